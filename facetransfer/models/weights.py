"""Model weights without pickle: a safetensors state dict plus the JSON that rebuilds the architecture.

A pickled ``nn.Module`` runs code when it is loaded, so anyone who can write to a shared
registry could run code on every machine that loads a model from it. A safetensors file holds
tensors only; the architecture is rebuilt by ``facetransfer.models`` from a few JSON fields
(kind, backbone, variant, number of classes) and the tensors are loaded into it with strict
name and shape checks.

A weights folder holds ``model.safetensors`` and ``architecture.json``. Training runs log one as
their ``weights/`` artifact; registered detector versions carry the detector's and its face
parser's folders inside their serving model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
ARCHITECTURE_FILE = "architecture.json"
WEIGHTS_ARTIFACT = "weights"
"""Artifact folder of a training run holding its model's weights folder."""

MODEL_KINDS = ("detector", "segmenter")


class WeightsError(ValueError):
    """A weights folder is incomplete, of another kind, or does not fit its architecture."""


def architecture_of(model: nn.Module, **extra: Any) -> dict[str, Any]:
    """The JSON fields that rebuild ``model`` (plus ``extra`` facts such as the class scheme).

    Raises:
        WeightsError: ``model`` is not a facetransfer detector or segmenter.
    """
    from facetransfer.models import DeepLabV3PlusDetector, DeepLabV3PlusSegmenter

    if isinstance(model, DeepLabV3PlusDetector):
        fields: dict[str, Any] = {
            "kind": "detector",
            "backbone": model.backbone_name,
            "variant": model.variant,
        }
    elif isinstance(model, DeepLabV3PlusSegmenter):
        fields = {"kind": "segmenter", "backbone": model.backbone_name, "num_classes": model.num_classes}
    else:
        raise WeightsError(f"cannot describe a {type(model).__name__}: build models with facetransfer.models")
    return {**fields, **extra}


def build_model(architecture: Mapping[str, Any]) -> nn.Module:
    """An untrained model of ``architecture`` (random weights, no ImageNet download)."""
    from facetransfer.models import DeepLabV3PlusDetector, build_segmenter

    kind = architecture.get("kind")
    if kind == "detector":
        return DeepLabV3PlusDetector(str(architecture["backbone"]), variant=str(architecture["variant"]))
    if kind == "segmenter":
        return build_segmenter(str(architecture["backbone"]), num_classes=int(architecture["num_classes"]))
    raise WeightsError(f"unknown model kind {kind!r} in {ARCHITECTURE_FILE}; valid: {', '.join(MODEL_KINDS)}")


def save_weights(model: nn.Module, folder: str | Path, **extra: Any) -> Path:
    """Write ``model``'s state dict and architecture into ``folder`` (created) and return it."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    architecture = architecture_of(model, **extra)
    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"kind": architecture["kind"]})
    (folder / ARCHITECTURE_FILE).write_text(
        json.dumps(architecture, indent=2, sort_keys=True), encoding="utf-8"
    )
    return folder


def read_architecture(folder: str | Path) -> dict[str, Any]:
    """The ``architecture.json`` of a weights folder.

    Raises:
        WeightsError: the file is missing or not JSON (the message names the folder).
    """
    path = Path(folder) / ARCHITECTURE_FILE
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path}: cannot read the model architecture: {error}") from error


def load_weights(folder: str | Path, *, kind: str | None = None) -> nn.Module:
    """Rebuild the model saved in ``folder`` (CPU, eval mode); no pickle is read.

    Args:
        folder: a folder written by ``save_weights``.
        kind: ``detector`` or ``segmenter`` to insist on; ``None`` accepts either.

    Raises:
        WeightsError: missing files, another kind, or tensors that do not fit the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    architecture = read_architecture(folder)
    if kind is not None and architecture.get("kind") != kind:
        raise WeightsError(f"{folder} holds a {architecture.get('kind')}, expected a {kind}")
    model = build_model(architecture)
    path = Path(folder) / WEIGHTS_FILE
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise WeightsError(f"{path}: cannot read the weights: {error}") from error
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WeightsError(f"{path} does not fit a {architecture}: {error}") from error
    return model.eval()


def log_weights(model: nn.Module, *, artifact_path: str = WEIGHTS_ARTIFACT, **extra: Any) -> str:
    """Log ``model``'s weights folder into the active MLflow run; return its ``runs:/`` URI."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        folder = save_weights(model, Path(tmp) / artifact_path, **extra)
        mlflow.log_artifacts(str(folder), artifact_path=artifact_path)
    run = mlflow.active_run()
    assert run is not None, "log_weights needs an active MLflow run"
    return f"runs:/{run.info.run_id}/{artifact_path}"


def download_weights(uri: str, destination: str | Path | None = None) -> Path:
    """Download the weights folder at ``uri`` (``runs:/<id>/weights``, ``models:/...``) and return it."""
    import mlflow

    if destination is not None:
        Path(destination).mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=None if destination is None else str(destination)
    )
    return Path(local)
