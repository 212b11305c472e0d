"""Metric tables with confidence intervals: numeric columns in CSV, ``0.955 [0.91, 0.99]`` in markdown.

A table carries a metric ``m`` with its interval as three numeric columns, ``m``, ``m_ci_low`` and
``m_ci_high`` (what a CSV reader or a plot wants). Its markdown shows one cell per metric, the
value and its interval in brackets, and marks with ``*`` the rows whose boolean ``few_images``
column is set (a generator or source with fewer test images than ``evaluation.min_images_for_ci``),
explained in a footnote under the table.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import pandas as pd

from facetransfer.tracking.tables import to_markdown

FEW_IMAGES = "few_images"
"""Boolean column (and metrics key): the row's group has too few test images for a reliable interval."""


def interval_columns(frame: pd.DataFrame) -> list[str]:
    """Columns ``m`` of ``frame`` that come with both ``m_ci_low`` and ``m_ci_high``."""
    return [
        column
        for column in frame.columns
        if f"{column}_ci_low" in frame.columns and f"{column}_ci_high" in frame.columns
    ]


def format_interval(value: Any, low: Any, high: Any) -> str | None:
    """``"0.955 [0.91, 0.99]"``; the value alone without an interval, ``None`` without a value."""
    if not _finite(value):
        return None
    if not (_finite(low) and _finite(high)):
        return f"{float(value):.3f}"
    return f"{float(value):.3f} [{float(low):.2f}, {float(high):.2f}]"


def interval_markdown(frame: pd.DataFrame, *, label_column: str | None = None, min_images: int = 0) -> str:
    """Markdown of a metrics table: intervals in brackets, ``*`` on rows with too few images.

    Args:
        frame: the numeric table (``m``, ``m_ci_low``, ``m_ci_high`` columns, optional ``few_images``).
        label_column: the column naming each row (generator, source, scope) that gets the ``*``.
        min_images: ``evaluation.min_images_for_ci``, quoted in the footnote.
    """
    display = frame.copy()
    for column in interval_columns(frame):
        low, high = f"{column}_ci_low", f"{column}_ci_high"
        display[column] = [
            format_interval(*cells) for cells in zip(frame[column], frame[low], frame[high], strict=True)
        ]
        display = display.drop(columns=[low, high])
    footnote = ""
    if FEW_IMAGES in display.columns:
        marked = display[FEW_IMAGES].astype("boolean").fillna(False).astype(bool)
        if label_column is not None and marked.any():
            display[label_column] = [
                f"{name}*" if mark else name for name, mark in zip(display[label_column], marked, strict=True)
            ]
            footnote = (
                f"\n\\* n < {min_images}: fewer than {min_images} test images of this generator or "
                "source; its metrics and their intervals rest on too few images to read much into.\n"
            )
        display = display.drop(columns=FEW_IMAGES)
    return to_markdown(display) + footnote


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
