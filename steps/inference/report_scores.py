"""Step: the scoring run in MLflow (histogram, share flagged, per-folder counts, unreadable files)."""

from typing import Annotated

import pandas as pd
from zenml import step

from facetransfer.workflow.inference import report_scores as report


@step(enable_cache=False, experiment_tracker=True)
def report_scores(scored: pd.DataFrame, images: str) -> Annotated[dict, "scoring_summary"]:
    """Log the scored folder to the run's MLflow run; metrics too when it has real/ and fake/.

    Returns:
        Counts, the share flagged as fake and, for labelled folders, the detection metrics.
    """
    return report(scored, source=images)
