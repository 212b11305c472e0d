"""Per-mask statistics (the table the segmentation suite validates), computed one mask at a time."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from facetransfer.classes import UNKNOWN_CLASS, ClassScheme, get_scheme, load_class_mask

logger = logging.getLogger(__name__)


def mask_statistics(
    frame: pd.DataFrame,
    scheme: ClassScheme | None = None,
    unknown_color_tolerances: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One row of statistics per mask of a segmentation manifest, reading one mask at a time.

    Args:
        frame: manifest rows with ``mask_path``, ``mask_encoding``, ``width``, ``height`` and
            optionally ``mask_scheme`` and ``dataset``; rows without a mask are skipped.
        scheme: class scheme of every mask; ``None`` uses each row's ``mask_scheme``.
        unknown_color_tolerances: per source (the ``dataset`` column), how many pixels outside the
            scheme a mask may hold (the source's ``unknown_color_tolerance``); 0 when absent.

    Returns:
        Columns ``row`` (the manifest index), ``path``, ``mask_path``, ``readable``,
        ``mask_width``, ``mask_height``, ``size_matches``, ``unknown_pixels``,
        ``unknown_tolerance``, ``face_present`` and ``share_<class>`` (pixel share of each class
        of the scheme).
    """
    records: list[dict[str, Any]] = []
    tolerances = dict(unknown_color_tolerances or {})
    with_masks = frame[frame["mask_path"].notna()] if "mask_path" in frame else frame.iloc[0:0]
    for index, row in with_masks.iterrows():
        row_scheme = scheme or get_scheme(str(row.get("mask_scheme") or "mut1ny14"))
        record = _statistics_of(index, row, row_scheme)
        record["unknown_tolerance"] = int(tolerances.get(str(row.get("dataset")), 0))
        records.append(record)
    columns = ["row", "path", "mask_path", "readable", "mask_width", "mask_height", "size_matches"]
    return pd.DataFrame.from_records(records, columns=None if records else columns)


def _statistics_of(index: Any, row: pd.Series, scheme: ClassScheme) -> dict[str, Any]:
    record: dict[str, Any] = {"row": index, "path": row["path"], "mask_path": row["mask_path"]}
    try:
        decoded = load_class_mask(
            row["mask_path"], encoding=str(row.get("mask_encoding") or "color"), scheme=scheme
        )
    except OSError as error:
        logger.warning("cannot read mask %s: %s", row["mask_path"], error)
        return record | {"readable": False, "mask_width": 0, "mask_height": 0, "size_matches": False,
                         "unknown_pixels": 0, "face_present": False}  # fmt: skip
    class_ids = decoded.class_ids
    height, width = class_ids.shape
    counts = np.bincount(class_ids[class_ids != UNKNOWN_CLASS].ravel(), minlength=scheme.num_classes)
    total = class_ids.size
    record.update(
        readable=True,
        mask_width=int(width),
        mask_height=int(height),
        size_matches=bool(width == row["width"] and height == row["height"]),
        unknown_pixels=int(decoded.unknown_pixels),
        face_present=bool(counts[scheme.id_of("face")] > 0),
    )
    record.update({f"share_{name}": float(counts[i]) / total for i, name in enumerate(scheme.names)})
    return record
