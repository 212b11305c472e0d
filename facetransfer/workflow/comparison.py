"""Compare the run's models: the paper's Table 1 and Table 2, and the best of each kind."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from facetransfer.evaluation import interval_keys, interval_markdown
from facetransfer.evaluation.plots import robustness_figure
from facetransfer.evaluation.robustness import ROBUSTNESS_METRICS
from facetransfer.tracking.runs import log_figure, log_json, log_params, log_table
from facetransfer.tracking.tables import (
    BACKBONE_LABELS,
    VARIANT_LABELS,
    seed_groups,
    seeded,
    table_1,
    table_2,
    to_markdown,
)
from facetransfer.workflow.detector import log_interval_table, report_name
from facetransfer.workflow.model_runs import pipeline_run

logger = logging.getLogger(__name__)

TABLE_2_METRICS = {
    "Accuracy": "accuracy",
    "Precision": "precision",
    "Recall": "recall",
    "F1": "f1",
    "ROC-AUC": "roc_auc",
}
"""Table 2's metric columns and the test metric each shows."""


def best_detector(reports: Sequence[Mapping[str, Any]], metric: str) -> Mapping[str, Any]:
    """The detector with the highest validation ``metric``; across seeds, the best seed of the
    variant with the highest mean.

    Reports of one backbone and variant (its seeds, ``detector.seeds``) form a group: the group
    with the highest mean validation ``metric`` wins, and within it the seed with the highest
    validation ``metric``. Ties, in order: higher validation ROC-AUC, lower validation loss (the
    kept epoch's; on a small validation split several detectors can all reach F1 and ROC-AUC 1,
    and the loss still says which is more surely right), fewer parameters (cheaper to serve).
    With one seed per variant this is the plain best by validation. The test split plays no part
    in the choice, so its metrics stay an unbiased report.
    """
    if not reports:
        raise ValueError("no detector was trained: the run configuration lists no variants")

    def key(report: Mapping[str, Any]) -> tuple[float, float, float, int]:
        val = report["val"]
        loss = (report.get("best_val") or {}).get("loss")
        return (
            _finite(val.get(metric)),
            _finite(val.get("roc_auc")),
            _finite(-loss if isinstance(loss, int | float) else None),  # lower loss first
            -int(report["parameters"]),
        )

    def mean_key(members: list[Mapping[str, Any]]) -> tuple[float, float, float, int]:
        keys = [key(member) for member in members]
        return (
            statistics.fmean(k[0] for k in keys),
            statistics.fmean(k[1] for k in keys),
            statistics.fmean(k[2] for k in keys),
            max(k[3] for k in keys),
        )

    return max(max(seed_groups(reports).values(), key=mean_key), key=key)


def best_segmenter(reports: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The segmenter with the highest validation pixel accuracy."""
    if not reports:
        raise ValueError("no segmenter was trained: the run configuration lists no backbones")
    return max(reports, key=lambda r: (_finite(r["val"].get("pixel_accuracy")), -int(r["parameters"])))


def segmenter_of(comparison: Mapping[str, Any], detector: Mapping[str, Any]) -> Mapping[str, Any]:
    """The segmenter ``detector`` was transferred from; for variant ``none``, the run's best segmenter."""
    for report in comparison["segmenters"]:
        if report["run_id"] == detector.get("segmenter_run_id"):
            return report
    return comparison["best_segmenter"]


def compare_and_log(
    segmenter_reports: Sequence[Mapping[str, Any]],
    detector_reports: Sequence[Mapping[str, Any]],
    *,
    selection_metric: str,
    champion: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build Table 1 and Table 2, log them (CSV + markdown) to the active run, pick the best models.

    Table 2's CSV holds each metric's bootstrap interval in ``<column>_ci_low`` /
    ``<column>_ci_high``; its markdown shows ``0.955 [0.91, 0.99]``. Also logs
    ``table2/<backbone>/<variant>/<metric>`` metrics (with ``<metric>_ci_low`` / ``_ci_high``), so
    pipeline runs can be compared side by side in the MLflow UI, and the robustness tables
    (models x perturbations, one per metric, the champion included when it was evaluated) with
    their plot.
    """
    import mlflow

    first = table_1(segmenter_reports)
    per_model = table_2_with_intervals(table_2(detector_reports), detector_reports)
    with_seeds = seeded(detector_reports)
    second = table_2_across_seeds(per_model) if with_seeds else per_model
    with pipeline_run("compare_models"):
        log_table(first, "tables/table_1_segmentation")
        if with_seeds:
            mlflow.log_text(second.to_csv(index=False), "tables/table_2_detection.csv")
            mlflow.log_text(table_2_markdown(second), "tables/table_2_detection.md")
            log_interval_table(per_model, "tables/table_2_seeds")
            mlflow.log_metrics(_table_2_mean_metrics(detector_reports))
        else:
            log_interval_table(second, "tables/table_2_detection")
            mlflow.log_metrics(_table_2_metrics(detector_reports))
        for report in segmenter_reports:
            mlflow.log_metric(
                f"table1/{report['backbone']}/pixel_accuracy", float(report["test"]["pixel_accuracy"])
            )
        log_robustness_comparison(detector_reports, champion)
    detector, segmenter = best_detector(detector_reports, selection_metric), best_segmenter(segmenter_reports)
    logger.info("Table 1 (segmentation, test split):\n%s", to_markdown(first))
    if with_seeds:
        logger.info("Table 2 (detection, test split, mean ± sd over seeds):\n%s", table_2_markdown(second))
        logger.info("Table 2 per seed:\n%s", interval_markdown(per_model))
    else:
        logger.info("Table 2 (detection, test split):\n%s", interval_markdown(second))
    logger.info(
        "best detector by %svalidation %s: %s",
        "mean " if with_seeds else "",
        selection_metric,
        report_name(detector),
    )
    return {
        "table_1": first.to_dict(orient="records"),
        "table_2": second.to_dict(orient="records"),
        "table_2_seeds": per_model.to_dict(orient="records") if with_seeds else [],
        "best_detector": dict(detector),
        "best_segmenter": dict(segmenter),
        "segmenters": [dict(r) for r in segmenter_reports],
        "detectors": [dict(r) for r in detector_reports],
    }


def _table_2_metrics(detector_reports: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``table2/<backbone>/<variant>/<metric>`` (and its interval bounds) of one-seed runs."""
    metrics = {}
    for report in detector_reports:
        overall = report["test"]["overall"]
        prefix = f"table2/{report['backbone']}/{report['variant']}"
        for metric in ("accuracy", "precision", "recall", "f1"):
            for key in (metric, *interval_keys(metric)):
                if math.isfinite(_finite(overall.get(key))):
                    metrics[f"{prefix}/{key}"] = float(overall[key])
    return metrics


def _table_2_mean_metrics(detector_reports: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``table2/<backbone>/<variant>/<metric>`` (mean over seeds) and ``<metric>_sd`` (sample sd)."""
    metrics = {}
    for (backbone, variant), members in seed_groups(detector_reports).items():
        for metric in TABLE_2_METRICS.values():
            values = np.array([_finite(member["test"]["overall"].get(metric)) for member in members])
            summary = {"": values.mean(), "_sd": values.std(ddof=1) if values.size > 1 else math.nan}
            for suffix, value in summary.items():
                if math.isfinite(value):
                    metrics[f"table2/{backbone}/{variant}/{metric}{suffix}"] = float(value)
    return metrics


def table_2_across_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Table 2 with one row per backbone and variant: ``Seeds``, each metric's mean over the seeds
    and its sample standard deviation ``<column>_sd`` (NaN with a single seed).

    Args:
        per_seed: ``table_2`` of several seeds (a ``Seed`` column; interval columns are ignored).
    """
    groups = per_seed.groupby(["Backbone", "TL"], sort=False)
    rows = []
    for (backbone, variant), members in groups:
        row: dict[str, Any] = {"Backbone": backbone, "TL": variant, "Seeds": len(members)}
        for column in TABLE_2_METRICS:
            values = members[column].astype(float)
            row[column] = float(values.mean())
            row[f"{column}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def table_2_markdown(table: pd.DataFrame) -> str:
    """Markdown of ``table_2_across_seeds``: ``0.955 ± 0.021`` cells (mean ± sd over seeds)."""
    display = table.copy()
    for column in TABLE_2_METRICS:
        display[column] = [
            f"{mean:.3f}" if not math.isfinite(sd) else f"{mean:.3f} ± {sd:.3f}"
            for mean, sd in zip(table[column], table[f"{column}_sd"], strict=True)
        ]
        display = display.drop(columns=f"{column}_sd")
    return to_markdown(display)


def table_2_with_intervals(
    table: pd.DataFrame, detector_reports: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """Table 2 with ``<column>_ci_low`` / ``<column>_ci_high`` after each metric column.

    The bounds are the bootstrap interval of the detector's test metric (``test.overall``); a row
    that stands for no single report (none, or several aggregated) gets NaN bounds. Rows are
    matched by backbone and variant, and by seed when the table has a ``Seed`` column.
    """
    if not {"Backbone", "TL"} <= set(table.columns):
        return table
    keys = ["Backbone", "TL", *(["Seed"] if "Seed" in table.columns else [])]
    overall_by_row: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for report in detector_reports:
        row = (
            BACKBONE_LABELS.get(report["backbone"], report["backbone"]),
            VARIANT_LABELS.get(report["variant"], report["variant"]),
            *([int(report["seed"])] if "Seed" in keys else []),
        )
        overall_by_row.setdefault(row, []).append(report["test"]["overall"])
    matches = [overall_by_row.get(tuple(row), []) for row in table[keys].itertuples(index=False)]
    result, columns = table.copy(), []
    for column in table.columns:
        columns.append(column)
        if column not in TABLE_2_METRICS:
            continue
        for side, key in zip(("low", "high"), interval_keys(TABLE_2_METRICS[column]), strict=True):
            name = f"{column}_ci_{side}"
            result[name] = [_number(found[0].get(key)) if len(found) == 1 else math.nan for found in matches]
            columns.append(name)
    return result[columns]


def robustness_curves(
    detector_reports: Sequence[Mapping[str, Any]], champion: Mapping[str, Any] | None, metric: str
) -> dict[str, dict[str, float]]:
    """Per model: ``metric`` on the clean test split, then under each perturbation of its sweep."""
    models = {report_name(r).removeprefix("detector-"): r for r in detector_reports if r.get("robustness")}
    if champion and champion.get("exists") and champion.get("robustness"):
        models[f"champion v{champion['version']}"] = champion
    return {
        name: {"clean": float(report["test"]["overall"][metric])}
        | {p: float(m[metric]) for p, m in report["robustness"].items()}
        for name, report in models.items()
    }


def log_robustness_comparison(
    detector_reports: Sequence[Mapping[str, Any]], champion: Mapping[str, Any] | None
) -> None:
    """Models x perturbations tables (ROC-AUC, AP, F1) and the ROC-AUC plot in the active run."""
    for metric in ROBUSTNESS_METRICS:
        curves = robustness_curves(detector_reports, champion, metric)
        if not curves:
            return
        table = pd.DataFrame([{"model": name, **values} for name, values in curves.items()])
        table["mean_perturbed"] = table.drop(columns=["model", "clean"]).mean(axis=1)
        log_table(table, f"tables/robustness_{metric}")
        if metric == "roc_auc":
            log_figure(
                robustness_figure(curves, metric=metric, title="ROC-AUC under perturbations (test split)"),
                "plots/robustness_roc_auc.png",
            )


def log_run_config(config: Mapping[str, Any]) -> None:
    """Every parameter of the run on the pipeline's MLflow run (params + ``run_config.json``)."""
    with pipeline_run("compare_models"):
        log_params(config)
        log_json(config, "run_config.json")


def _number(value: Any) -> float:
    """``value`` as a float; NaN when missing (a report without intervals, a JSON null)."""
    return float(value) if isinstance(value, int | float) else math.nan


def _finite(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else -math.inf
