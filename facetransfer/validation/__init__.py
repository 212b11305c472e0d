"""Data validation with great-expectations 1.x (used directly, with an ephemeral context).

``validate_detection_manifest`` and ``validate_segmentation_data`` run named expectation suites
(see ``suites``) and return a ``ValidationResult`` with a JSON ``summary``, GX's own results
(``data_docs.build_data_docs`` turns them into a Data Docs site) and ``raise_for_failure()``.
great-expectations itself is imported only when a validation runs.
"""

from facetransfer.validation.bounds import ValidationBounds
from facetransfer.validation.mask_statistics import mask_statistics
from facetransfer.validation.result import DataValidationError, ExpectationOutcome, ValidationResult
from facetransfer.validation.validate import (
    MaskSchemeMismatchError,
    validate_detection_manifest,
    validate_segmentation_data,
)

__all__ = [
    "DataValidationError",
    "ExpectationOutcome",
    "MaskSchemeMismatchError",
    "ValidationBounds",
    "ValidationResult",
    "mask_statistics",
    "validate_detection_manifest",
    "validate_segmentation_data",
]
