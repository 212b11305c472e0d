"""Step: threshold on validation, metrics on test (overall, per generator, per real source)."""

from typing import Annotated

import pandas as pd
from torch import nn
from zenml import step

from facetransfer.config import EvaluationSettings
from facetransfer.workflow.detector import evaluate_and_log_detector
from steps.caching import library_cache_policy, step_library_code

library_code = step_library_code(__name__)


@step(experiment_tracker=True, cache_policy=library_cache_policy(__name__))
def evaluate_detector(
    detector: nn.Module, manifest: pd.DataFrame, report: dict, evaluation: EvaluationSettings
) -> Annotated[dict, "detector_{backbone}_{variant}_evaluation"]:
    """Choose the decision threshold on validation; report accuracy, precision, recall, F1,
    ROC-AUC, AP and EER on test, overall and per generator and source, with plots.

    Returns:
        The training report completed with ``threshold``, ``val`` and ``test`` metrics.
    """
    return evaluate_and_log_detector(detector, manifest, report, settings=evaluation)
