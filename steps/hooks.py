"""Pipeline hooks: make a failed run visible, with its reason, in MLflow as well as in ZenML."""

import logging

from zenml import get_step_context
from zenml.client import Client

logger = logging.getLogger(__name__)


def record_failure(exception: BaseException) -> None:
    """Mark the pipeline's MLflow run FAILED and tag it with the failing step and the error.

    ZenML already records the failed run and the traceback; this puts the reason where users
    compare runs, so a failed scheduled retraining is not mistaken for "nothing happened".
    """
    from mlflow.tracking import MlflowClient

    from facetransfer.tracking.store import EXPERIMENT_NAME

    tracker = Client().active_stack.experiment_tracker
    if tracker is None:
        return
    context = get_step_context()
    client = MlflowClient(tracking_uri=tracker.get_tracking_uri())
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        return
    run_name = context.pipeline_run.name
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.runName = '{run_name}'", max_results=1
    )
    run = runs[0] if runs else client.create_run(experiment.experiment_id, run_name=run_name)
    reason = f"{context.step_run.name}: {type(exception).__name__}: {exception}"
    client.set_tag(run.info.run_id, "failure.step", context.step_run.name)
    client.set_tag(run.info.run_id, "failure.reason", reason[:5000])
    client.set_terminated(run.info.run_id, status="FAILED")
    logger.error(
        "run %s failed in %s; recorded on MLflow run %s", run_name, context.step_run.name, run.info.run_id
    )
