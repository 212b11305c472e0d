"""Validation results: per-expectation outcomes, a JSON summary, an HTML report and the failure error."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
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
    """

    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]
    frame: pd.DataFrame
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)

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

    def to_html(self) -> str:
        """A self-contained HTML report (summary, every expectation, failing example rows)."""
        rows = []
        for outcome in self.outcomes:
            status = "passed" if outcome.success else "FAILED"
            observed = "" if outcome.observed is None else html.escape(repr(to_jsonable(outcome.observed)))
            examples = _examples_table(outcome.example_rows) if outcome.example_rows else ""
            rows.append(
                f'<tr class="{"ok" if outcome.success else "bad"}"><td>{status}</td>'
                f"<td><code>{html.escape(outcome.name)}</code></td><td>{html.escape(outcome.description)}</td>"
                f"<td>{html.escape(outcome.table)}</td><td>{outcome.unexpected_count}</td><td>{observed}</td>"
                f"<td>{html.escape(outcome.error or '')}{examples}</td></tr>"
            )
        verdict = "passed" if self.success else f"failed ({len(self.failed)} expectations)"
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{self.suite} data validation</title><style>{_CSS}</style></head><body>"
            f"<h1>{self.suite} data validation: {verdict}</h1>"
            f"<p>{len(self.frame)} rows validated, {len(self.quarantine)} quarantined.</p>"
            "<table><tr><th>status</th><th>expectation</th><th>checks</th><th>table</th>"
            "<th>failing rows</th><th>observed</th><th>examples</th></tr>"
            + "".join(rows)
            + "</table></body></html>"
        )

    def write_html(self, path: str | Path) -> Path:
        """Write ``to_html()`` to ``path``; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


_CSS = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
    "tr.ok td:first-child{color:#1a7f37}tr.bad td:first-child{color:#cf222e;font-weight:bold}"
    "table table td{font-size:85%}"
)


def _examples_table(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(to_jsonable(row.get(c))))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{header}</tr>{body}</table>"
