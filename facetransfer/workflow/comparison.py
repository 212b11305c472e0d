"""Compare the run's models: the paper's Table 1 and Table 2, and the best of each kind."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from facetransfer.evaluation import interval_keys, interval_markdown
from facetransfer.evaluation.plots import robustness_figure
from facetransfer.evaluation.robustness import ROBUSTNESS_METRICS
from facetransfer.tracking.runs import log_figure, log_json, log_params, log_table
from facetransfer.tracking.tables import BACKBONE_LABELS, VARIANT_LABELS, table_1, table_2, to_markdown
from facetransfer.workflow.detector import log_interval_table
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
    """The detector with the highest validation ``metric``.

    Ties go to the higher validation ROC-AUC, then to fewer parameters (cheaper to serve). The
    test split plays no part in the choice, so its metrics stay an unbiased report.
    """
    if not reports:
        raise ValueError("no detector was trained: the run configuration lists no variants")

    def key(report: Mapping[str, Any]) -> tuple[float, float, int]:
        val = report["val"]
        return (_finite(val.get(metric)), _finite(val.get("roc_auc")), -int(report["parameters"]))

    return max(reports, key=key)


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
    second = table_2_with_intervals(table_2(detector_reports), detector_reports)
    with pipeline_run("compare_models"):
        log_table(first, "tables/table_1_segmentation")
        log_interval_table(second, "tables/table_2_detection")
        for report in detector_reports:
            overall = report["test"]["overall"]
            prefix = f"table2/{report['backbone']}/{report['variant']}"
            keys = [
                key
                for metric in ("accuracy", "precision", "recall", "f1")
                for key in (metric, *interval_keys(metric))
            ]
            mlflow.log_metrics(
                {f"{prefix}/{k}": float(overall[k]) for k in keys if math.isfinite(_finite(overall.get(k)))}
            )
        for report in segmenter_reports:
            mlflow.log_metric(
                f"table1/{report['backbone']}/pixel_accuracy", float(report["test"]["pixel_accuracy"])
            )
        log_robustness_comparison(detector_reports, champion)
    detector, segmenter = best_detector(detector_reports, selection_metric), best_segmenter(segmenter_reports)
    logger.info("Table 1 (segmentation, test split):\n%s", to_markdown(first))
    logger.info("Table 2 (detection, test split):\n%s", interval_markdown(second))
    logger.info(
        "best detector by validation %s: %s-%s", selection_metric, detector["backbone"], detector["variant"]
    )
    return {
        "table_1": first.to_dict(orient="records"),
        "table_2": second.to_dict(orient="records"),
        "best_detector": dict(detector),
        "best_segmenter": dict(segmenter),
        "segmenters": [dict(r) for r in segmenter_reports],
        "detectors": [dict(r) for r in detector_reports],
    }


def table_2_with_intervals(
    table: pd.DataFrame, detector_reports: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """Table 2 with ``<column>_ci_low`` / ``<column>_ci_high`` after each metric column.

    The bounds are the bootstrap interval of the detector's test metric (``test.overall``); a row
    that stands for no single report (none, or several aggregated) gets NaN bounds.
    """
    if not {"Backbone", "TL"} <= set(table.columns):
        return table
    overall_by_row: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for report in detector_reports:
        row = (
            BACKBONE_LABELS.get(report["backbone"], report["backbone"]),
            VARIANT_LABELS.get(report["variant"], report["variant"]),
        )
        overall_by_row.setdefault(row, []).append(report["test"]["overall"])
    matches = [overall_by_row.get(row, []) for row in zip(table["Backbone"], table["TL"], strict=True)]
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
    models = {f"{r['backbone']}-{r['variant']}": r for r in detector_reports if r.get("robustness")}
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
