"""The run's reproduction of the paper's Table 1 and Table 2, as data frames, CSV and markdown."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

BACKBONE_LABELS = {"resnet50": "ResNet50", "mobilenet_v3_large": "MobileNetV3 Large"}
VARIANT_LABELS = {"none": "—", "last": "Last", "all": "All"}
"""Table 2's "TL" column: no transfer, transfer with ASPP/decoder frozen, transfer of everything."""

PAPER_TABLE_1 = {"resnet50": (15_411_966, 0.9539), "mobilenet_v3_large": (5_815_646, 0.9484)}


def table_1(segmenter_reports: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Table 1: backbone, number of parameters, test pixel accuracy (plus mIoU and the paper's values).

    Args:
        segmenter_reports: one mapping per trained segmenter with keys ``backbone``,
            ``parameters`` and ``test`` (a mapping holding ``pixel_accuracy`` and ``miou``).
    """
    rows = []
    for report in segmenter_reports:
        paper_parameters, paper_accuracy = PAPER_TABLE_1.get(report["backbone"], (math.nan, math.nan))
        rows.append(
            {
                "Backbone": BACKBONE_LABELS.get(report["backbone"], report["backbone"]),
                "Number of parameters": int(report["parameters"]),
                "Accuracy": float(report["test"]["pixel_accuracy"]),
                "mIoU": float(report["test"]["miou"]),
                "Paper parameters": paper_parameters,
                "Paper accuracy": paper_accuracy,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:  # an integer column even where the paper has no value (unknown backbone)
        frame["Paper parameters"] = frame["Paper parameters"].astype("Int64")
    return frame


def table_2(detector_reports: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Table 2: backbone × transfer variant → test accuracy, precision, recall, F1 (plus ROC-AUC).

    Args:
        detector_reports: one mapping per trained detector with keys ``backbone``, ``variant``
            and ``test`` (a mapping holding ``overall`` metrics). When a variant was trained with
            several seeds (``seeded``), the table has one row per seed and a ``Seed`` column.
    """
    variant_order = list(VARIANT_LABELS)
    reports = list(detector_reports)
    ordered = sorted(
        reports,
        key=lambda r: (
            r["backbone"],
            variant_order.index(r["variant"]) if r["variant"] in variant_order else 99,
            int(r.get("seed") or 0),
        ),
    )
    with_seeds = seeded(reports)
    rows = []
    for report in ordered:
        overall = report["test"]["overall"]
        rows.append(
            {
                "Backbone": BACKBONE_LABELS.get(report["backbone"], report["backbone"]),
                "TL": VARIANT_LABELS.get(report["variant"], report["variant"]),
                **({"Seed": int(report["seed"])} if with_seeds else {}),
                "Accuracy": overall["accuracy"],
                "Precision": overall["precision"],
                "Recall": overall["recall"],
                "F1": overall["f1"],
                "ROC-AUC": overall["roc_auc"],
            }
        )
    return pd.DataFrame(rows)


def seed_groups(
    detector_reports: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Detector reports by ``(backbone, variant)``: one report per seed, in the reports' order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for report in detector_reports:
        groups.setdefault((str(report["backbone"]), str(report["variant"])), []).append(report)
    return groups


def seeded(detector_reports: Iterable[Mapping[str, Any]]) -> bool:
    """Whether some backbone and variant was trained with more than one seed (``detector.seeds``)."""
    return any(len(members) > 1 for members in seed_groups(detector_reports).values())


def to_markdown(frame: pd.DataFrame, *, float_format: str = ".4f") -> str:
    """Render a data frame as a markdown table (``DataFrame.to_markdown``, i.e. tabulate).

    Floats use ``float_format``, integers get thousands separators, missing values show as ``n/a``.
    """
    cells = frame.astype(object).where(frame.notna(), None)  # tabulate's missingval is for None
    return str(cells.to_markdown(index=False, floatfmt=float_format, intfmt=",", missingval="n/a")) + "\n"
