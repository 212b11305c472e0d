"""Step: the run's Table 1 and Table 2, and its best segmenter and detector."""

from typing import Annotated

from zenml import step

from facetransfer.config import PromotionSettings
from facetransfer.workflow.comparison import compare_and_log, log_run_config


@step(enable_cache=False, experiment_tracker=True)
def compare_models(
    segmenter_evaluations: list[dict],
    detector_evaluations: list[dict],
    promotion: PromotionSettings,
    run_config: dict,
    champion: dict,
) -> Annotated[dict, "model_comparison"]:
    """Reproduce the paper's Table 1 and Table 2 (CSV + markdown in the pipeline's MLflow run)
    and pick the best detector by the validation metric.

    Not cached, so every pipeline run's MLflow run carries its tables and its whole
    configuration (``run_config``, logged as params and ``run_config.json``). The robustness
    tables and plot compare every detector with the champion (``champion``, evaluated first).
    """
    log_run_config(run_config)
    return compare_and_log(
        segmenter_evaluations,
        detector_evaluations,
        selection_metric=promotion.selection_metric,
        champion=champion,
    )
