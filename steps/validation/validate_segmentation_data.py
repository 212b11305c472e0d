"""Step: great-expectations suite over the segmentation manifest and its masks."""

from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from facetransfer.classes import get_scheme
from facetransfer.config import DataSettings
from facetransfer.validation import ValidationBounds
from facetransfer.validation import validate_segmentation_data as run_suite
from facetransfer.workflow.validation import publish_validation
from steps.materializers import ContentHashedDataFrameMaterializer


@step(
    experiment_tracker=True,
    output_materializers={"validated_segmentation_manifest": ContentHashedDataFrameMaterializer},
)
def validate_segmentation_data(
    manifest: pd.DataFrame, validation: ValidationBounds, data: DataSettings
) -> tuple[
    Annotated[pd.DataFrame, "validated_segmentation_manifest"],
    Annotated[dict, "segmentation_validation_summary"],
    Annotated[HTMLString, "segmentation_validation_report"],
]:
    """Check masks (known colours, size = image size, face present, class shares) and images.

    The great-expectations Data Docs are logged to MLflow and shown in the ZenML dashboard. A
    failed expectation stops the run before any training, with each failed expectation named and
    example rows (unless ``validation.quarantine_instead_of_fail``: then the failing rows are set
    aside).

    Raises:
        DataValidationError: an expectation failed.
    """
    result = run_suite(
        manifest,
        bounds=validation,
        scheme=get_scheme(data.class_scheme),
        unknown_color_tolerances={s.name: s.unknown_color_tolerance for s in data.segmentation_sources},
    )
    report = publish_validation(result, "segmentation")
    return result.frame, result.summary, HTMLString(report)
