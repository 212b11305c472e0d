"""The product's MLflow experiment: created once, under the project, marked as model training."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from facetransfer.tracking.store import (
    EXPERIMENT_KIND_TAG,
    EXPERIMENT_NAME,
    MODEL_TRAINING_KIND,
    default_artifact_location,
    ensure_experiment,
)


def test_experiment_opens_the_model_training_view_new_or_existing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    experiment_id = ensure_experiment(uri, tmp_path)
    client = MlflowClient(uri)
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == EXPERIMENT_NAME
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND == "custom_model_development"
    assert experiment.artifact_location == default_artifact_location(tmp_path)
    # An experiment created without the kind (by ZenML's tracker, or an older version) gets it.
    client.delete_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG)
    assert ensure_experiment(uri, tmp_path) == experiment_id
    assert client.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
