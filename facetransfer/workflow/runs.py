"""Opening the MLflow run of one model, nested under the pipeline's run when there is one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


def split_frame(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of one split; raises ``ValueError`` naming the split if it is empty."""
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"the manifest has no {split!r} rows: add data or change the split ratios")
    return rows
