"""Cross-generator summary tables: mean ROC-AUC on unseen generators, and whether transfer helps.

Computed from ``CrossGeneratorCells`` (``facetransfer.evaluation.cross_generator``), whose
bootstrap resamples give every mean its interval and every difference between two variants a
paired interval (the same test resamples score both). "unseen" and "seen" are the leave-one-out
cells: each detector on the generator held out of its training, and on the others.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from facetransfer.evaluation.cross_generator import CrossGeneratorCells
from facetransfer.tracking.tables import BACKBONE_LABELS, VARIANT_LABELS


def variant_summary(cells: CrossGeneratorCells) -> pd.DataFrame:
    """Per backbone and variant: mean ROC-AUC on unseen and on seen generators, mean AP unseen.

    "unseen" and "seen" are the leave-one-out cells (the held-out generator; the others); with
    train-on-one folds, "unseen (train on one)" averages every generator each of them missed.
    """
    rows = []
    for (backbone, variant), means in _family_means(cells).items():
        rows.append(
            _labels(backbone, variant)
            | {"detectors": means.pop("detectors")}
            | {name: value for label, mean in means.items() for name, value in _interval(label, mean).items()}
        )
    return pd.DataFrame(rows)


def transfer_table(cells: CrossGeneratorCells) -> pd.DataFrame:
    """Does transfer help on unseen generators? Per backbone: each variant's mean unseen ROC-AUC
    (leave-one-out) and its difference from variant ``none``, paired on the same test resamples."""
    table = cells.table
    unseen = table[(table["setting"] == "leave_out") & table["unseen"]].sort_values("held_generator")
    rows = []
    for backbone, family in unseen.groupby("backbone", sort=False):
        variants = {str(v): rows_ for v, rows_ in family.groupby("variant", sort=False)}
        baseline = variants.get("none")
        for variant, variant_cells in variants.items():
            row: dict[str, Any] = _labels(str(backbone), variant)
            row |= _interval("mean ROC-AUC unseen", cells.mean(variant_cells, "roc_auc"))
            if baseline is not None:
                if variant == "none":
                    difference, reading = (math.nan, math.nan, math.nan), "baseline"
                else:
                    paired = baseline.set_index("held_generator").loc[variant_cells["held_generator"]]
                    difference = cells.mean_difference(variant_cells, paired.reset_index(), "roc_auc")
                    reading = _reading(difference)
                row |= _interval("difference from none", difference) | {"reading": reading}
            rows.append(row)
    return pd.DataFrame(rows)


def _family_means(cells: CrossGeneratorCells) -> dict[tuple[str, str], dict[str, Any]]:
    """``(backbone, variant)`` -> ``folds`` and, per summary column, ``(mean, ci_low, ci_high)``."""
    means = {}
    for (backbone, variant), family in cells.table.groupby(["backbone", "variant"], sort=False):
        leave_out = family[family["setting"] == "leave_out"]
        unseen, seen = leave_out[leave_out["unseen"]], leave_out[~leave_out["unseen"]]
        one = family[(family["setting"] == "train_on_one") & family["unseen"]]
        family_means: dict[str, Any] = {
            "detectors": int(family[["setting", "held_generator"]].drop_duplicates().shape[0]),
            "ROC-AUC unseen": cells.mean(unseen, "roc_auc"),
            "ROC-AUC seen": cells.mean(seen, "roc_auc"),
            "AP unseen": cells.mean(unseen, "average_precision"),
        }
        if not one.empty:
            family_means["ROC-AUC unseen (train on one)"] = cells.mean(one, "roc_auc")
        means[(str(backbone), str(variant))] = family_means
    return means


def summary_metrics(cells: CrossGeneratorCells) -> dict[str, float]:
    """``generalization/<backbone>/<variant>/{unseen,seen}_roc_auc`` (+ ``_ci_low`` / ``_ci_high``)."""
    metrics: dict[str, float] = {}
    for (backbone, variant), means in _family_means(cells).items():
        for name, label in (("unseen", "ROC-AUC unseen"), ("seen", "ROC-AUC seen")):
            prefix = f"generalization/{backbone}/{variant}/{name}_roc_auc"
            mean, low, high = means[label]
            metrics |= {prefix: mean, f"{prefix}_ci_low": low, f"{prefix}_ci_high": high}
    return {key: value for key, value in metrics.items() if math.isfinite(value)}


def _reading(difference: tuple[float, float, float]) -> str:
    _, low, high = difference
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval (bootstrap_resamples: 0)"
    if low > 0:
        return "transfer helps"
    if high < 0:
        return "transfer hurts"
    return "not told apart"


def _labels(backbone: str, variant: str) -> dict[str, Any]:
    return {"Backbone": BACKBONE_LABELS.get(backbone, backbone), "TL": VARIANT_LABELS.get(variant, variant)}


def _interval(name: str, values: tuple[float, float, float]) -> dict[str, float]:
    low_key, high_key = (f"{name}_ci_low", f"{name}_ci_high")
    return {name: values[0], low_key: values[1], high_key: values[2]}
