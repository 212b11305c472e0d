"""Step: great-expectations suite over the detection manifest."""

from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from facetransfer.validation import ValidationBounds, validate_detection_manifest
from facetransfer.workflow.validation import publish_validation
from steps.caching import library_cache_policy, step_library_code
from steps.materializers import ContentHashedDataFrameMaterializer

library_code = step_library_code(__name__)


@step(
    experiment_tracker=True,
    cache_policy=library_cache_policy(__name__),
    output_materializers={"validated_detection_manifest": ContentHashedDataFrameMaterializer},
)
def validate_detection_data(
    manifest: pd.DataFrame, validation: ValidationBounds, face_presence: pd.DataFrame
) -> tuple[
    Annotated[pd.DataFrame, "validated_detection_manifest"],
    Annotated[dict, "detection_validation_summary"],
    Annotated[HTMLString, "detection_validation_report"],
]:
    """Check images, labels, class balance, per-generator/per-source counts and split leakage.

    The great-expectations Data Docs are logged to MLflow and shown in the ZenML dashboard. A
    failed expectation stops the run before any training, with each failed expectation named and
    example rows (unless ``validation.quarantine_instead_of_fail``: then the failing rows are set
    aside). ``face_presence`` (from ingestion) bounds, per ``faces: align`` source, the share of
    pictures that yielded no face crop.

    Raises:
        DataValidationError: an expectation failed.
    """
    result = validate_detection_manifest(manifest, validation, face_presence=face_presence)
    report = publish_validation(result, "detection")
    return result.frame, result.summary, HTMLString(report)
