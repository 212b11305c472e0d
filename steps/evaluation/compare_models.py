"""Step: the run's Table 1 and Table 2, and its best segmenter and detector."""

from typing import Annotated

from zenml import step

from facetransfer.config import PromotionSettings
from facetransfer.workflow.comparison import compare_and_log


@step(enable_cache=False, experiment_tracker=True)
def compare_models(
    segmenter_evaluations: list[dict], detector_evaluations: list[dict], promotion: PromotionSettings
) -> Annotated[dict, "model_comparison"]:
    """Reproduce the paper's Table 1 and Table 2 (CSV + markdown in the pipeline's MLflow run)
    and pick the best detector by the validation metric.

    Not cached, so every pipeline run's MLflow run carries its tables.
    """
    return compare_and_log(
        segmenter_evaluations, detector_evaluations, selection_metric=promotion.selection_metric
    )
