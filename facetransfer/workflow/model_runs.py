"""Opening the MLflow run of one model, nested under the pipeline's run when there is one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

MODEL_KIND_TAG = "facetransfer.model_kind"
PIPELINE_RUN_TAG = "facetransfer.pipeline_run"


@contextmanager
def model_run(
    name: str | None = None, *, run_id: str | None = None, tags: Mapping[str, Any] | None = None
) -> Iterator[Any]:
    """Start (or, with ``run_id``, resume) a model's MLflow run.

    Inside a ZenML step the experiment tracker has opened the pipeline's run: the model run is
    nested under it. Outside (tests, notebooks) it is a top-level run of the active experiment.
    """
    import mlflow

    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_id=run_id, run_name=name, nested=nested) as run:
        if tags:
            mlflow.set_tags({k: str(v) for k, v in tags.items()})
        yield run


@contextmanager
def pipeline_run(name: str) -> Iterator[Any]:
    """The pipeline's run: the active one inside a ZenML step, else a new run called ``name``.

    Stages that log run-level results (tables, decisions, validation reports) use it, so they
    also work outside a pipeline without leaving a run open.
    """
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        yield active
        return
    with mlflow.start_run(run_name=name) as run:
        yield run


def log_epoch_metrics(epoch: int, metrics: Mapping[str, Any]) -> None:
    """``epoch_callback`` of the trainers: per-epoch losses and metrics as MLflow metric steps."""
    import mlflow

    numeric = {k: float(v) for k, v in metrics.items() if k != "epoch" and isinstance(v, int | float)}
    mlflow.log_metrics(numeric, step=epoch)


def finish_training_run(
    run: Any,
    result: Any,
    *,
    image_size: int,
    checkpoint_dir: Path,
    model_facts: Mapping[str, Any] | None = None,
    **extra_params: Any,
) -> dict[str, Any]:
    """Log what a training produced into its run and return the report's common fields.

    Logged: whether ImageNet weights were found, parameter counts, device, ``extra_params``,
    best epoch, epochs run, seconds, the best epoch's validation metrics, and the model itself as
    a ``weights/`` folder (safetensors + ``architecture.json`` with ``model_facts``; no pickle).
    The resumable checkpoint is deleted once the model is safely logged.
    """
    import mlflow

    from facetransfer.models.weights import log_weights
    from facetransfer.tracking.runs import log_params

    log_params(
        {
            "pretrained_loaded": result.pretrained_loaded,
            "parameters": result.parameters,
            "trainable_parameters": result.trainable_parameters,
            "device": result.device,
            **extra_params,
        }
    )
    best = result.best_metrics
    mlflow.log_metrics(
        {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "train_seconds": result.seconds,
            **{f"best_{k}": float(v) for k, v in best.items() if k.startswith("val_")},
        }
    )
    weights_uri = log_weights(result.model, image_size=image_size, **(model_facts or {}))
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return {
        "run_id": run.info.run_id,
        "model_uri": weights_uri,
        "image_size": image_size,
        "parameters": result.parameters,
        "trainable_parameters": result.trainable_parameters,
        "pretrained_loaded": result.pretrained_loaded,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_seconds": result.seconds,
        "best_val": {k.removeprefix("val_"): v for k, v in best.items() if k.startswith("val_")},
    }


def split_frame(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of one split; raises ``ValueError`` naming the split if it is empty."""
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"the manifest has no {split!r} rows: add data or change the split ratios")
    return rows
