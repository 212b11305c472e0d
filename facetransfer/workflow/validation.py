"""Publishing a data-validation result: MLflow artifacts and tags, then pass or fail."""

from __future__ import annotations

import logging

from facetransfer.tracking.runs import log_json, log_table
from facetransfer.validation import ValidationResult
from facetransfer.workflow.runs import pipeline_run

logger = logging.getLogger(__name__)


def publish_validation(result: ValidationResult, suite: str) -> None:
    """Log the suite's JSON summary, HTML report and quarantine to the active run; raise on failure.

    Raises:
        DataValidationError: an expectation failed (its message names each one with examples).
    """
    import mlflow

    with pipeline_run(f"validate_{suite}_data"):
        mlflow.log_text(result.to_html(), f"validation/{suite}_report.html")
        log_json(result.summary, f"validation/{suite}_summary.json")
        if not result.quarantine.empty:
            log_table(result.quarantine, f"validation/{suite}_quarantine")
            logger.warning("%s validation quarantined %d rows", suite, len(result.quarantine))
        mlflow.set_tag(f"validation.{suite}", "passed" if result.success else "failed")
        if not result.success:
            mlflow.set_tag(f"validation.{suite}.failed", ",".join(o.name for o in result.failed))
    result.raise_for_failure()
