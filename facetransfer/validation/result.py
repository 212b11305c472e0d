"""Validation results: per-expectation outcomes, a JSON summary, GX's own results and the failure error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from facetransfer.jsonable import to_jsonable


class DataValidationError(Exception):
    """The data failed its validation suite; the message lists each failed expectation with examples.

    Attributes:
        result: the full ``ValidationResult``.
    """

    def __init__(self, message: str, result: ValidationResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class ExpectationOutcome:
    """How one named expectation fared.

    Attributes:
        name: stable expectation name.
        description: what it checks.
        table: the table it ran on (``manifest``, ``splits``, ``masks``).
        success: whether it held.
        observed: observed value of aggregate expectations (e.g. the mean), else ``None``.
        unexpected_count: number of failing rows of row-level expectations.
        example_rows: a few failing rows (JSON-friendly dicts).
        error: exception text if GX could not evaluate the expectation.
    """

    name: str
    description: str
    table: str
    success: bool
    observed: Any = None
    unexpected_count: int = 0
    example_rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "name": self.name,
            "description": self.description,
            "table": self.table,
            "success": self.success,
            "observed": to_jsonable(self.observed),
            "unexpected_count": self.unexpected_count,
            "example_rows": [{k: to_jsonable(v) for k, v in row.items()} for row in self.example_rows],
            "error": self.error,
        }


@dataclass
class ValidationResult:
    """Outcome of a validation suite.

    Attributes:
        suite: ``detection`` or ``segmentation``.
        success: every expectation held (after quarantine, when enabled).
        outcomes: one per expectation.
        frame: the validated rows (without the quarantined ones).
        quarantine: rows removed by ``quarantine_instead_of_fail``, with the ``expectation`` that
            removed them (empty otherwise).
        suite_results: per table, great-expectations' own result of the (last) validation:
            what the Data Docs report renders (``facetransfer.validation.data_docs``).
    """

    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]
    frame: pd.DataFrame
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    suite_results: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        """The expectations that did not hold."""
        return [outcome for outcome in self.outcomes if not outcome.success]

    @property
    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary: counts, failed names and every outcome."""
        return {
            "suite": self.suite,
            "success": self.success,
            "evaluated": len(self.outcomes),
            "failed": [outcome.name for outcome in self.failed],
            "rows_validated": len(self.frame),
            "rows_quarantined": len(self.quarantine),
            "quarantined_by_expectation": (
                {str(k): int(v) for k, v in self.quarantine["expectation"].value_counts().items()}
                if not self.quarantine.empty
                else {}
            ),
            "expectations": [outcome.to_dict() for outcome in self.outcomes],
        }

    def failure_message(self) -> str:
        """Multi-line message naming each failed expectation with example rows."""
        lines = [f"{self.suite} data failed {len(self.failed)} of {len(self.outcomes)} expectations:"]
        for outcome in self.failed:
            detail = f"{outcome.unexpected_count} failing rows" if outcome.unexpected_count else ""
            if outcome.observed is not None:
                detail = f"observed {outcome.observed!r}"
            if outcome.error:
                detail = f"could not be evaluated: {outcome.error}"
            lines.append(f"- {outcome.name}: {outcome.description} ({detail})")
            lines += [
                f"    e.g. {json.dumps(outcome.to_dict()['example_rows'][i])}"
                for i in range(len(outcome.example_rows))
            ]
        return "\n".join(lines)

    def raise_for_failure(self) -> None:
        """Raise ``DataValidationError`` if any expectation failed."""
        if not self.success:
            raise DataValidationError(self.failure_message(), self)
