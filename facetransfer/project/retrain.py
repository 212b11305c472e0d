"""``facetransfer retrain``: the scheduled command. Runs the pipeline only when the data changed.

The champion detector's registry version carries the identity of the data it was trained on
(``data_hash``: ``dvc:<md5>`` of the verified ``data.dvc`` when every source is DVC-tracked, else
a content hash of the manifests, see ``facetransfer.workflow.ingestion``). The current identity is
computed the same way (no file is read when DVC tracks everything); equal identities mean there is
nothing new to learn, and the command exits at once, saying so. The same holds when a newer
``challenger`` was already trained on the current data and the promotion rule turned it down:
retraining on the same data would only repeat that run (``--force`` runs it anyway).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from facetransfer.locks import exclusive_lock

logger = logging.getLogger(__name__)

LOCK_FILE = Path(".local") / "retrain.lock"


@dataclass(frozen=True)
class RetrainCheck:
    """Whether a retraining is due, and why."""

    due: bool
    reason: str


def check_retrain_due(root: Path, config_path: Path) -> RetrainCheck:
    """Compare the current data identity with the one the champion was trained on.

    The registry is asked first, so an outage stops the check at once, before any ingestion.

    Raises:
        RegistryUnavailableError: the registry cannot be reached; nothing can be decided.
    """
    import mlflow
    from mlflow import MlflowClient

    from facetransfer.config import load_run_config
    from facetransfer.registry.client import CHALLENGER, CHAMPION, alias_version
    from facetransfer.tracking.store import resolve_tracking_uri
    from facetransfer.workflow.ingestion import current_data_identity

    config = load_run_config(config_path)
    mlflow.set_tracking_uri(resolve_tracking_uri(root))
    client = MlflowClient()
    champion = alias_version(client, config.promotion.detector_model, CHAMPION)
    # A challenger is always newer than the champion (promotion clears older ones).
    if champion is None:
        return RetrainCheck(True, f"no {config.promotion.detector_model}@champion yet")
    challenger = alias_version(client, config.promotion.detector_model, CHALLENGER)
    current = current_data_identity(config.data, base=root)
    trained_on = (champion.tags or {}).get("data_hash")
    version = str(champion.version)
    if trained_on == current:
        return RetrainCheck(
            False,
            f"data unchanged since champion v{version} was trained (data {current[:16]})",
        )
    if challenger is not None and (challenger.tags or {}).get("data_hash") == current:
        reason = (challenger.tags or {}).get("promotion.reason", "see its promotion.reason tag")
        return RetrainCheck(
            False,
            f"data unchanged since challenger v{challenger.version} was trained on it (data "
            f"{current[:16]}); it was not promoted over champion v{version}: {reason}",
        )
    return RetrainCheck(
        True,
        f"data changed since champion v{version} ({str(trained_on)[:16]} -> {current[:16]})",
    )


def retrain(root: str | Path, config: str | Path, *, force: bool = False) -> int:
    """Run ``transfer_pipeline`` if the data changed since the champion was trained.

    Holds ``.local/retrain.lock`` for the whole run, so scheduled runs never overlap.

    Returns:
        The process exit code: 0 when nothing was due, another run held the lock, or the
        pipeline succeeded; the pipeline's exit code when it failed.

    Raises:
        RegistryUnavailableError: the registry cannot be reached; the pipeline is not started.
    """
    from facetransfer.locks import LockBusyError

    root = Path(root).resolve()
    config_path = (root / config).resolve()
    try:
        with exclusive_lock(root / LOCK_FILE):
            check = check_retrain_due(root, config_path)
            logger.info("retrain check: %s", check.reason)
            if not check.due and not force:
                logger.info("nothing to do")
                return 0
            return run_pipeline(root, config_path)
    except LockBusyError as busy:
        logger.warning("not starting: %s", busy)
        return 0


def run_pipeline(root: Path, config_path: Path) -> int:
    """``zenml pipeline run pipelines.transfer_pipeline -c <config>`` in ``root``; its exit code."""
    from facetransfer.project.stack import executable

    command = [executable("zenml"), "pipeline", "run", "pipelines.transfer_pipeline", "-c", str(config_path)]
    logger.info("running: %s", " ".join(command))
    return subprocess.run(command, cwd=root, check=False).returncode
