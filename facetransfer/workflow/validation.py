"""Publishing a data-validation result: MLflow artifacts and tags, then pass or fail."""

from __future__ import annotations

import logging
import tempfile

from facetransfer.tracking.runs import log_json, log_table
from facetransfer.validation import ValidationResult
from facetransfer.validation.data_docs import build_data_docs
from facetransfer.workflow.model_runs import pipeline_run

logger = logging.getLogger(__name__)


def publish_validation(result: ValidationResult, suite: str) -> str:
    """Log the suite's JSON summary, Data Docs and quarantine to the active run; raise on failure.

    The Data Docs land under ``validation/<suite>/`` (entry page ``index.html``).

    Returns:
        The entry page's HTML (for the ZenML dashboard).

    Raises:
        DataValidationError: an expectation failed (its message names each one with examples).
    """
    import mlflow

    with pipeline_run(f"validate_{suite}_data"), tempfile.TemporaryDirectory() as site:
        report = build_data_docs(result, site).read_text(encoding="utf-8")
        mlflow.log_artifacts(site, f"validation/{suite}")
        log_json(result.summary, f"validation/{suite}_summary.json")
        if not result.quarantine.empty:
            log_table(result.quarantine, f"validation/{suite}_quarantine")
            logger.warning("%s validation quarantined %d rows", suite, len(result.quarantine))
        mlflow.set_tag(f"validation.{suite}", "passed" if result.success else "failed")
        if not result.success:
            mlflow.set_tag(f"validation.{suite}.failed", ",".join(o.name for o in result.failed))
    result.raise_for_failure()
    return report
