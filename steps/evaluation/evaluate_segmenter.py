"""Step: test-split pixel accuracy and IoU of a segmenter (the paper's Table 1)."""

from typing import Annotated

import pandas as pd
from torch import nn
from zenml import step

from facetransfer.classes import get_scheme
from facetransfer.config import DataSettings, EvaluationSettings
from facetransfer.workflow.segmenter import evaluate_and_log_segmenter


@step(experiment_tracker=True)
def evaluate_segmenter(
    segmenter: nn.Module,
    manifest: pd.DataFrame,
    report: dict,
    evaluation: EvaluationSettings,
    data: DataSettings,
) -> Annotated[dict, "segmenter_{backbone}_evaluation"]:
    """Pixel accuracy, mIoU, per-class IoU and overlays on the test split, logged to the model's run.

    Returns:
        The training report completed with its ``test`` metrics.
    """
    return evaluate_and_log_segmenter(
        segmenter, manifest, report, scheme=get_scheme(data.class_scheme), settings=evaluation
    )
