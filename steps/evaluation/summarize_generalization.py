"""Step: the cross-generator matrices, the mean ROC-AUC on unseen generators and the transfer table."""

from typing import Annotated

from zenml import step

from facetransfer.workflow.generalization import summarize_and_log


@step(enable_cache=False, experiment_tracker=True)
def summarize_generalization(
    folds: list[dict], n_resamples: int, confidence_level: float, seed: int
) -> Annotated[dict, "generalization_summary"]:
    """Generators x generators ROC-AUC and AP (CSV, markdown, heatmaps), the per-variant summary and
    "does transfer help on unseen generators?", with bootstrap intervals, in the pipeline's MLflow run.

    Not cached, so every run's MLflow run carries its tables.

    Args:
        folds: the results of every ``train_and_score_fold``.
        n_resamples: bootstrap resamples (``evaluation.bootstrap_resamples``; 0: no intervals).
        confidence_level: level of the intervals (``evaluation.confidence_level``).
        seed: seed of the resampling (``evaluation.bootstrap_seed``).

    Returns:
        The cells, the summary and the transfer table as rows.
    """
    return summarize_and_log(folds, n_resamples=n_resamples, confidence_level=confidence_level, seed=seed)
