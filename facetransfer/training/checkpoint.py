"""Training checkpoints: written atomically each epoch, read back to resume an interrupted run.

A checkpoint holds the model and optimiser (and grad-scaler) state, the epoch, the best
validation loss with the best weights, the history, the RNG states of Python/NumPy/torch and a
``run_key`` describing the run. A checkpoint is resumed only when its ``run_key`` equals the
current one, so a run with other data or hyper-parameters never continues a stale checkpoint.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (a crash mid-write leaves the previous file intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, partial)
    os.replace(partial, path)


def load_checkpoint(path: str | Path, run_key: dict[str, Any]) -> dict[str, Any] | None:
    """Read the checkpoint at ``path`` if it belongs to the run described by ``run_key``.

    Returns:
        The saved state, or ``None`` when there is no file or it belongs to another run (logged).

    Raises:
        RuntimeError: the file exists but cannot be read (names the file so it can be deleted).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        # Our own file: holds RNG states and history besides tensors, so not weights_only.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as error:
        raise RuntimeError(f"checkpoint {path} cannot be read ({error}); delete it to start over") from error
    if state.get("format") != CHECKPOINT_FORMAT or state.get("run_key") != run_key:
        logger.warning("checkpoint %s belongs to another run configuration; starting from scratch", path)
        return None
    return state
