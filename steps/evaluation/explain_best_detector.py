"""Step: which face regions give each generator away, for the run's best detector."""

from typing import Annotated

import pandas as pd
from zenml import step

from facetransfer.workflow.explanation import explain_best_detector as explain


@step(enable_cache=False, experiment_tracker=True)
def explain_best_detector(
    comparison: dict, manifest: pd.DataFrame, images_per_generator: int
) -> Annotated[dict, "region_attribution"]:
    """Mean region attribution (captum, regions from the face parser) per generator on the test split.

    Logs a generators x regions table and heatmap to the pipeline's MLflow run.
    ``images_per_generator`` (``evaluation.explain_images_per_generator``; 0 skips it) caps the
    cost. Not cached: the comparison it explains is recomputed every run, and every run's MLflow
    run carries its table.

    Returns:
        The detector explained, images, seconds and the table's rows.
    """
    return explain(comparison, manifest, images_per_generator=images_per_generator)
