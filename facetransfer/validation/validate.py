"""Public entry points: validate a detection manifest, validate segmentation data."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from facetransfer.classes import ClassScheme, get_scheme
from facetransfer.validation.bounds import ValidationBounds
from facetransfer.validation.mask_statistics import mask_statistics
from facetransfer.validation.result import ValidationResult
from facetransfer.validation.runner import validate_tables
from facetransfer.validation.suites import (
    detection_specs,
    face_presence_specs,
    manifest_table,
    segmentation_specs,
    splits_table,
)


class MaskSchemeMismatchError(ValueError):
    """A manifest's masks follow another class scheme than the one the run trains with."""


def validate_detection_manifest(
    frame: pd.DataFrame, bounds: ValidationBounds | None = None, *, face_presence: pd.DataFrame | None = None
) -> ValidationResult:
    """Validate a detection manifest (real vs generated images).

    Checks (expectation names): ``path_not_null``, ``sha256_not_null``, ``label_binary``,
    ``width_in_bounds``, ``height_in_bounds``, ``mode_allowed``, ``split_known``,
    ``sha256_in_one_split``, ``identity_in_one_split``, ``split_has_both_labels``,
    ``real_fake_ratio_in_bounds``, ``generator_min_images``, ``source_min_images``.

    Args:
        frame: the manifest (see ``facetransfer.ingestion.manifest``).
        bounds: limits; defaults when ``None``.
        face_presence: ``face_presence_table`` of the ingestion; when it has rows (``faces: align``
            sources), ``no_face_share_in_bounds`` checks it too.

    Returns:
        The result; call ``raise_for_failure()`` to turn a failure into ``DataValidationError``.
    """
    bounds = bounds or ValidationBounds()
    with_faces = face_presence is not None and not face_presence.empty
    specs = detection_specs(bounds) + (face_presence_specs(bounds) if with_faces else [])

    def tables(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
        built = {"manifest": manifest_table(rows), "splits": splits_table(rows)}
        if with_faces:
            built["faces"] = face_presence
        return built

    return validate_tables("detection", frame, tables, specs, bounds)


def validate_segmentation_data(
    frame: pd.DataFrame,
    mask_stats: pd.DataFrame | None = None,
    bounds: ValidationBounds | None = None,
    *,
    scheme: ClassScheme | None = None,
    unknown_color_tolerances: Mapping[str, int] | None = None,
) -> ValidationResult:
    """Validate segmentation data: its manifest rows and per-mask statistics.

    Checks (expectation names): the image checks of the detection suite except labels and
    ratios, plus ``mask_path_not_null``, ``mask_readable``, ``no_unknown_mask_colors``,
    ``mask_size_matches_image``, ``face_present`` (at least ``min_face_share`` of masks) and
    ``class_share_<class>`` (mean pixel share within ``class_share_bounds``).

    Args:
        frame: segmentation manifest rows (with ``mask_path``).
        mask_stats: ``mask_statistics(frame, scheme)``; computed here (reading every mask once)
            when ``None``.
        bounds: limits; defaults when ``None``.
        scheme: class scheme of the masks; default: the frame's ``mask_scheme`` (or mut1ny14).
        unknown_color_tolerances: per source name, the pixels outside the scheme a mask may hold
            (its ``unknown_color_tolerance``, the bound of ``no_unknown_mask_colors``); default 0.

    Raises:
        MaskSchemeMismatchError: the frame's ``mask_scheme`` differs from ``scheme`` (names both).
    """
    bounds = bounds or ValidationBounds()
    schemes = sorted(frame["mask_scheme"].dropna().astype(str).unique()) if "mask_scheme" in frame else []
    if scheme is None:
        scheme = get_scheme(schemes[0] if schemes else "mut1ny14")
    mismatched = [name for name in schemes if name != scheme.name]
    if mismatched:
        raise MaskSchemeMismatchError(
            f"the segmentation manifest holds masks of scheme(s) {', '.join(mismatched)}, but the run "
            f"trains with class scheme {scheme.name} (data.class_scheme): the class ids would mean "
            f"other classes; ingest the masks with `scheme: {scheme.name}` or change data.class_scheme"
        )
    stats = mask_stats if mask_stats is not None else mask_statistics(frame, scheme, unknown_color_tolerances)

    def tables(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
        masks = stats[stats["row"].isin(rows.index)].reset_index(drop=True) if not stats.empty else stats
        return {"manifest": manifest_table(rows), "masks": masks}

    return validate_tables("segmentation", frame, tables, segmentation_specs(bounds, scheme.names), bounds)
