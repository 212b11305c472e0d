"""Step: measure the model in service on today's data before training a challenger."""

from typing import Annotated

import pandas as pd
from zenml import step

from facetransfer.config import EvaluationSettings, PromotionSettings
from facetransfer.workflow.champion import evaluate_champion as evaluate


@step(enable_cache=False, experiment_tracker=True)
def evaluate_champion(
    manifest: pd.DataFrame, promotion: PromotionSettings, evaluation: EvaluationSettings
) -> Annotated[dict, "champion_evaluation"]:
    """Evaluate the registered champion detector on the current test split and new generators.

    Never cached: the champion may have changed since the last run. Logs
    ``champion/test/...``, ``champion/new/<generator>/...`` and ``champion/robust/...`` (the
    robustness sweep of ``evaluation.robustness``) metrics to the pipeline's run.

    Returns:
        ``exists`` False when there is no champion yet; else its version and metrics.
    """
    return evaluate(
        manifest,
        model_name=promotion.detector_model,
        batch_size=evaluation.batch_size,
        perturbations=evaluation.robustness,
    )
