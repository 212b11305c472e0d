"""Where MLflow runs and artifacts live.

By default a project-local SQLite store (``<root>/.local/mlflow/mlflow.db``) with artifacts in
``<root>/.local/mlflow/artifacts``: embedded, no server. ``facetransfer setup --team`` records a team
server in ``<root>/.local/mlflow/tracking_uri`` (machine-local, not committed), and
``MLFLOW_TRACKING_URI`` overrides both, so every entry point (pipeline, CLI) sees the same store.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

EXPERIMENT_NAME = "transfer_pipeline"
"""The one MLflow experiment of the product (ZenML names it after the pipeline)."""
SCORING_EXPERIMENT_NAME = "inference_pipeline"
"""The experiment of batch-scoring runs (``inference_pipeline``)."""

LOCAL_STORE_DIR = Path(".local") / "mlflow"

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
"""Experiment tag the MLflow 3 UI reads to choose its layout (MLflow's server/js, not its Python API)."""
MODEL_TRAINING_KIND = "custom_model_development"
"""The kind whose UI opens on runs, metrics and models; without it MLflow 3 opens its GenAI overview."""


def default_tracking_uri(root: str | Path) -> str:
    """Project-local SQLite tracking URI under ``root``."""
    database = (Path(root) / LOCAL_STORE_DIR / "mlflow.db").resolve()
    return f"sqlite:///{database}"


def default_artifact_location(root: str | Path) -> str:
    """Project-local artifact location used with the SQLite store."""
    return (Path(root) / LOCAL_STORE_DIR / "artifacts").resolve().as_uri()


RECORDED_URI_FILE = LOCAL_STORE_DIR / "tracking_uri"
"""Where ``facetransfer setup --team`` records the team's MLflow server for this checkout."""


def resolve_tracking_uri(root: str | Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the server recorded by set-up, else the local store."""
    recorded = Path(root) / RECORDED_URI_FILE
    if not os.environ.get("MLFLOW_TRACKING_URI") and recorded.is_file():
        return recorded.read_text(encoding="utf-8").strip()
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)


def ensure_experiment(tracking_uri: str, root: str | Path, name: str = EXPERIMENT_NAME) -> str:
    """Create the experiment ``name`` (default: the product's) if missing, mark it as model
    training, and return its id.

    With the local SQLite store the experiment gets an explicit artifact location under the
    project, so MLflow never falls back to a ``mlruns/`` folder in whatever directory a command
    happens to run from. An existing experiment (e.g. one ZenML created) gets the kind tag too.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
        return experiment.experiment_id
    artifact_location = default_artifact_location(root) if tracking_uri.startswith("sqlite:") else None
    if tracking_uri.startswith("sqlite:"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if artifact_location is not None and name != EXPERIMENT_NAME:
        artifact_location = f"{artifact_location}/{name}"
    experiment_id = client.create_experiment(
        name, artifact_location=artifact_location, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND}
    )
    logger.info("created MLflow experiment %s (%s)", name, tracking_uri)
    return experiment_id
