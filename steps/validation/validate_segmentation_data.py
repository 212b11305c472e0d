"""Step: great-expectations suite over the segmentation manifest and its masks."""

from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from facetransfer.classes import get_scheme
from facetransfer.validation import ValidationBounds
from facetransfer.validation import validate_segmentation_data as run_suite
from facetransfer.workflow.validation import publish_validation
from steps.caching import library_cache_policy, step_library_code
from steps.materializers import ContentHashedDataFrameMaterializer

library_code = step_library_code(__name__)


@step(
    experiment_tracker=True,
    cache_policy=library_cache_policy(__name__),
    output_materializers={"validated_segmentation_manifest": ContentHashedDataFrameMaterializer},
)
def validate_segmentation_data(
    manifest: pd.DataFrame,
    validation: ValidationBounds,
    class_scheme: str,
    unknown_color_tolerances: dict[str, int],
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

    Args:
        manifest: the split segmentation manifest.
        validation: the suites' bounds.
        class_scheme: the run's class scheme (``data.class_scheme``); masks of another are refused.
        unknown_color_tolerances: per segmentation source, the mask pixels outside the scheme it
            tolerates (its ``unknown_color_tolerance``).

    Raises:
        DataValidationError: an expectation failed.
        MaskSchemeMismatchError: the masks follow another class scheme.
    """
    result = run_suite(
        manifest,
        bounds=validation,
        scheme=get_scheme(class_scheme),
        unknown_color_tolerances=unknown_color_tolerances,
    )
    report = publish_validation(result, "segmentation")
    return result.frame, result.summary, HTMLString(report)
