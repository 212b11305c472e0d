"""Step: test-split pixel accuracy and IoU of a segmenter (the paper's Table 1)."""

from typing import Annotated

import pandas as pd
from torch import nn
from zenml import step

from facetransfer.classes import get_scheme
from facetransfer.workflow.segmenter import evaluate_and_log_segmenter
from steps.caching import library_cache_policy, step_library_code

library_code = step_library_code(__name__)


@step(experiment_tracker=True, cache_policy=library_cache_policy(__name__))
def evaluate_segmenter(
    segmenter: nn.Module,
    manifest: pd.DataFrame,
    report: dict,
    batch_size: int,
    overlay_examples: int,
    class_scheme: str,
) -> Annotated[dict, "segmenter_{backbone}_evaluation"]:
    """Pixel accuracy, mIoU, per-class IoU and overlays on the test split, logged to the model's run.

    Returns:
        The training report completed with its ``test`` metrics.
    """
    return evaluate_and_log_segmenter(
        segmenter,
        manifest,
        report,
        scheme=get_scheme(class_scheme),
        batch_size=batch_size,
        overlay_examples=overlay_examples,
    )
