"""Run named expectations with great-expectations 1.x (ephemeral context, pandas data).

GX is imported here, inside the functions (importing it costs seconds), and used directly, not
through ZenML's GX integration (which requires GX < 1.0).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from facetransfer.validation.bounds import ValidationBounds
from facetransfer.validation.result import ExpectationOutcome, ValidationResult
from facetransfer.validation.suites import ExpectationSpec

logger = logging.getLogger(__name__)

TableBuilder = Callable[[pd.DataFrame], dict[str, pd.DataFrame]]


def import_great_expectations() -> Any:
    """The ``great_expectations`` module, with analytics off and its INFO chatter silenced."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # Its INFO output (much of it logged while importing) is internal chatter.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations

    return great_expectations


def run_expectations(
    tables: dict[str, pd.DataFrame], specs: list[ExpectationSpec], *, example_rows: int = 5
) -> tuple[list[ExpectationOutcome], dict[str, list[Any]], dict[str, Any]]:
    """Evaluate ``specs`` on their tables.

    Returns:
        The outcomes (in ``specs`` order); per expectation name, the index labels of its failing
        rows (row-level expectations only); per table, GX's own suite result (for Data Docs).
    """
    gx = import_great_expectations()
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    results: dict[str, Any] = {}
    suite_results: dict[str, Any] = {}
    for table_name in dict.fromkeys(spec.table for spec in specs):
        suite = gx.ExpectationSuite(name=f"{table_name}_suite")
        for spec in specs:
            if spec.table == table_name:
                suite.add_expectation(spec.build(gxe))
        suite = context.suites.add(suite)
        batch_definition = (
            context.data_sources.add_pandas(f"{table_name}_source")
            .add_dataframe_asset(table_name)
            .add_batch_definition_whole_dataframe("whole")
        )
        batch = batch_definition.get_batch(batch_parameters={"dataframe": tables[table_name]})
        validation = batch.validate(suite, result_format="COMPLETE")
        suite_results[table_name] = validation
        for item in validation.results:
            if item.result and isinstance(item.result.get("observed_value"), np.generic):
                # GX's Data Docs renderer rejects numpy scalars (e.g. a column mean under pandas 3).
                item.result["observed_value"] = item.result["observed_value"].item()
            config = item.expectation_config
            if config is not None and config.meta:
                results[config.meta["name"]] = item
    outcomes, failing_rows = [], {}
    for spec in specs:
        outcome, rows = _outcome(spec, results[spec.name], tables[spec.table], example_rows)
        outcomes.append(outcome)
        if rows:
            failing_rows[spec.name] = rows
    return outcomes, failing_rows, suite_results


def _outcome(
    spec: ExpectationSpec, item: Any, table: pd.DataFrame, example_rows: int
) -> tuple[ExpectationOutcome, list[Any]]:
    details = item.result or {}
    error = None
    if item.exception_info and item.exception_info.get("raised_exception"):
        error = str(item.exception_info.get("exception_message"))
    failing = list(details.get("unexpected_index_list") or []) if spec.row_level else []
    column = spec.arguments.get("column")
    shown = [c for c in ("path", "source", "generator", "split", "sha256", "mask_path", column) if c in table]
    examples = (
        table.loc[failing[:example_rows], list(dict.fromkeys(shown))].to_dict("records") if failing else []
    )
    outcome = ExpectationOutcome(
        name=spec.name,
        description=spec.description,
        table=spec.table,
        success=bool(item.success),
        observed=details.get("observed_value"),
        unexpected_count=int(details.get("unexpected_count") or 0),
        example_rows=examples,
        error=error,
    )
    return outcome, failing


def validate_tables(
    suite_name: str,
    frame: pd.DataFrame,
    build_tables: TableBuilder,
    specs: list[ExpectationSpec],
    bounds: ValidationBounds,
) -> ValidationResult:
    """Validate ``frame`` (through the tables ``build_tables`` derives from it), quarantining if configured.

    With ``bounds.quarantine_instead_of_fail`` the rows behind failed row-level expectations are
    removed into the quarantine table (a mask-table row maps back to its manifest row through the
    ``row`` column) and the remaining rows are validated again; aggregate expectations (ratios,
    shares, split coverage) cannot be fixed by removing rows and still fail.
    """
    outcomes, failing, suite_results = run_expectations(
        build_tables(frame), specs, example_rows=bounds.example_rows
    )
    succeeded = all(outcome.success for outcome in outcomes)
    if succeeded or not bounds.quarantine_instead_of_fail:
        return ValidationResult(suite_name, succeeded, outcomes, frame, suite_results=suite_results)
    tables = build_tables(frame)
    removed: dict[Any, str] = {}
    for spec in specs:
        if spec.name not in failing or next(o for o in outcomes if o.name == spec.name).success:
            continue
        labels = failing[spec.name]
        if spec.table == "masks":
            labels = tables["masks"].loc[labels, "row"].tolist()
        for label in labels:
            removed.setdefault(label, spec.name)
    quarantine = frame.loc[list(removed)].assign(expectation=[removed[label] for label in removed])
    remaining = frame.drop(index=list(removed))
    logger.warning(
        "quarantined %d rows that failed row-level expectations; validating the rest", len(removed)
    )
    outcomes, _, suite_results = run_expectations(
        build_tables(remaining), specs, example_rows=bounds.example_rows
    )
    succeeded = all(outcome.success for outcome in outcomes)
    return ValidationResult(suite_name, succeeded, outcomes, remaining, quarantine, suite_results)
