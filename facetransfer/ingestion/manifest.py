"""Build the manifest: every configured source → one checked, de-duplicated, split table.

Manifest columns (one row per image; for a ``faces: align`` source, one row per face crop):

=============== ==========================================================================
``path``        absolute path of the image (``faces: align``: of the aligned face crop)
``sha256``      hex SHA-256 of the image file (``faces: align``: of the crop file)
``label``       0 real, 1 generated
``source``      real source or generator folder the image comes from (stratum of the split)
``generator``   generator name for generated images, ``None`` for real ones
``width``       pixel width; ``height``: pixel height; ``mode``: Pillow mode (``RGB``, ...)
``split``       ``train``, ``val`` or ``test`` (see ``facetransfer.ingestion.splitting``)
``identity``    ``<namespace>:<id>`` of the person when the source provides one, else ``None``
``mask_path``   segmentation rows: absolute path of the mask, else ``None``
``mask_encoding`` ``color`` (RGB palette, Mut1ny) or ``index`` (class ids, merged CelebAMask-HQ)
``mask_scheme`` class scheme of the mask (``mut1ny14`` / ``mut1ny11``)
``mask_sha256`` hex SHA-256 of the mask file
``dataset``     name of the source configuration entry the row came from
``source_path`` ``faces: align``: the picture the crop was cut from, else ``None``
``source_sha256`` ``faces: align``: hex SHA-256 of that picture (crops of one picture share a split)
``face_index``  ``faces: align``: 0, 1, ... per picture, most confident face first
``face_box``    ``faces: align``: JSON ``[x, y, width, height]`` of the detector's box
``face_landmarks`` ``faces: align``: JSON 5 x 2 ``(x, y)``: eyes, nose, mouth corners
``face_confidence`` ``faces: align``: the detector's confidence
=============== ==========================================================================

Boxes and landmarks are in pixels of the picture as decoded (EXIF orientation applied);
``width``/``height``/``mode`` of a crop row are the crop's (``faces.crop_size``, ``RGB``). The
data fingerprint follows the source files, not the crops (``hashing.source_fingerprints``).

Identical files found in several places are kept (each row is a real file) and always share a
split; identical files that disagree on the label are quarantined (``label_conflict``), because
no label would be right for both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from facetransfer.faces.face_settings import FaceSettings
from facetransfer.imaging.checks import DEFAULT_MAX_IMAGE_PIXELS
from facetransfer.imaging.decoding import DEFAULT_MAX_FILE_BYTES
from facetransfer.ingestion.errors import SourceConfigError, SourceNotFoundError
from facetransfer.ingestion.face_crops import face_cropper_for
from facetransfer.ingestion.file_names import printable_path
from facetransfer.ingestion.hashing import FileFactCache, data_fingerprint, source_fingerprints
from facetransfer.ingestion.inspection import Inspector
from facetransfer.ingestion.records import ManifestRow, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import SourceConfig, parse_sources
from facetransfer.ingestion.splitting import assign_splits, split_counts_by_stratum, validate_ratios

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = (
    "path",
    "sha256",
    "label",
    "source",
    "generator",
    "width",
    "height",
    "mode",
    "split",
    "identity",
    "mask_path",
    "mask_encoding",
    "mask_scheme",
    "mask_sha256",
    "dataset",
    "source_path",
    "source_sha256",
    "face_index",
    "face_box",
    "face_landmarks",
    "face_confidence",
)
QUARANTINE_COLUMNS = ("path", "source", "check", "reason")
_OPTIONAL_NUMBERS: dict[str, type] = {"face_index": int, "face_confidence": float}


@dataclass
class ManifestResult:
    """The manifest, the quarantined files and a JSON-serialisable report.

    Attributes:
        manifest: one row per accepted image (columns: ``MANIFEST_COLUMNS``).
        quarantine: one row per rejected file or source (``path, source, check, reason``).
        report: counts, duplicates, label conflicts, per-source fingerprints, hashing counts
            (``report["hashing"]["hashed_files"]`` is 0 on an unchanged re-ingest) and each
            reader's report.
    """

    manifest: pd.DataFrame
    quarantine: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write ``manifest.parquet``, ``quarantine.parquet`` and ``report.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "manifest": directory / "manifest.parquet",
            "quarantine": directory / "quarantine.parquet",
            "report": directory / "report.json",
        }
        self.manifest.to_parquet(paths["manifest"], index=False)
        self.quarantine.to_parquet(paths["quarantine"], index=False)
        paths["report"].write_text(json.dumps(self.report, indent=2, sort_keys=True), encoding="utf-8")
        return paths

    @classmethod
    def read(cls, directory: str | Path) -> ManifestResult:
        """Read a result written by ``write``."""
        directory = Path(directory)
        return cls(
            manifest=normalise_manifest_dtypes(pd.read_parquet(directory / "manifest.parquet")),
            quarantine=normalise_manifest_dtypes(pd.read_parquet(directory / "quarantine.parquet")),
            report=json.loads((directory / "report.json").read_text(encoding="utf-8")),
        )


def build_manifest(
    sources: Sequence[SourceConfig | dict[str, Any]],
    *,
    root: str | Path,
    split_ratios: tuple[float, float, float] | None = (0.7, 0.15, 0.15),
    seed: int = 0,
    cache_dir: str | Path | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    faces: FaceSettings | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> ManifestResult:
    """Read, check, hash, de-duplicate and split every source.

    Args:
        sources: source declarations (``SourceConfig`` or mappings from a YAML config).
        root: folder that relative source paths are resolved against (normally the repo root).
        split_ratios: train, val and test shares; ``None`` leaves ``split`` empty (``None``) for a
            later ``facetransfer.ingestion.splitting.assign_splits``.
        seed: split seed.
        cache_dir: folder for the file-fact cache (re-ingest reads no unchanged file) and for
            derived files such as merged CelebAMask-HQ masks and face crops; ``None``: nothing
            persists (CelebAMask-HQ and ``faces: align`` sources then fail with a message asking
            for one).
        max_image_pixels: decompression-bomb limit; larger images are quarantined.
        max_file_bytes: files larger than this are quarantined from their size, never read.
        faces: how ``faces: align`` sources are cut into face crops (the run's ``faces:``
            block, one for every source); ``None``: ``FaceSettings()`` defaults.

    Returns:
        The manifest, the quarantine table and the report.

    Raises:
        SourceNotFoundError: one or more source folders do not exist (all are named; nothing
            is read before this check).
        SourceConfigError: duplicate source names, two sources yielding the same ``source``, or
            ``faces: align`` sources without a ``cache_dir`` (or with one inside a source folder).
        SourceLayoutError: a source lacks what its format requires.
    """
    from facetransfer.ingestion.readers import read_source

    configs = parse_sources(list(sources))
    ratios = validate_ratios(split_ratios) if split_ratios is not None else None
    _check_sources_exist(configs, root)
    cropper = face_cropper_for(configs, root, cache_dir, faces, max_image_pixels=max_image_pixels)
    rows: list[ManifestRow] = []
    quarantine: list[QuarantineEntry] = []
    source_reports: dict[str, Any] = {}
    with FileFactCache(cache_dir) as cache:
        inspector = Inspector(cache, max_image_pixels=max_image_pixels, max_file_bytes=max_file_bytes)
        for config in configs:
            derived = Path(cache_dir) / "derived" / config.name if cache_dir is not None else None
            result = read_source(config, root, inspector=inspector, derived_dir=derived)
            if config.faces == "align" and cropper is not None:
                crops, no_crop, counts = cropper.crop_rows(result.rows)
                result.rows, result.quarantine = crops, [*result.quarantine, *no_crop]
                result.report["faces"] = counts
            logger.info(
                "source %s: %d images, %d quarantined", config.name, len(result.rows), len(result.quarantine)
            )
            rows.extend(result.rows)
            quarantine.extend(result.quarantine)
            source_reports[config.name] = result.report
        hashing = {"hashed_files": inspector.hashed_files, "cache_hits": cache.hits}
    frame = _rows_to_frame(rows)
    _check_source_names_unique(frame)
    frame, conflicts = _quarantine_label_conflicts(frame)
    quarantine.extend(conflicts)
    if ratios is not None and not frame.empty:
        frame["split"] = assign_splits(frame, ratios=ratios, seed=seed)
    else:
        frame["split"] = None
    manifest = normalise_manifest_dtypes(
        frame.loc[:, list(MANIFEST_COLUMNS)].sort_values(["source", "path"], ignore_index=True)
    )
    quarantine_frame = normalise_manifest_dtypes(
        pd.DataFrame([_quarantine_record(entry) for entry in quarantine], columns=list(QUARANTINE_COLUMNS))
    )
    report = _report(manifest, quarantine_frame, len(conflicts), hashing, source_reports, ratios, seed)
    report["faces"] = cropper.report() if cropper is not None else None
    return ManifestResult(manifest=manifest, quarantine=quarantine_frame, report=report)


def _quarantine_record(entry: QuarantineEntry) -> dict[str, str]:
    # A name that is not UTF-8 (a folder, a file) is shown byte-escaped: parquet and JSON need UTF-8.
    return {
        "path": printable_path(entry.path),
        "source": printable_path(entry.source),
        "check": entry.check.value,
        "reason": printable_path(entry.reason),
    }


def _check_sources_exist(configs: list[SourceConfig], root: str | Path) -> None:
    missing = [f"{c.name!r}: {c.resolve_path(root)}" for c in configs if not c.resolve_path(root).is_dir()]
    if missing:
        raise SourceNotFoundError("source folder(s) do not exist: " + "; ".join(missing))


def _rows_to_frame(rows: list[ManifestRow]) -> pd.DataFrame:
    columns = [name for name in MANIFEST_COLUMNS if name != "split"]
    return normalise_manifest_dtypes(pd.DataFrame([vars(row) for row in rows], columns=columns))


def normalise_manifest_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer ``label``/``width``/``height``; every other column Python objects, ``None`` when missing.

    ``face_index`` holds Python ints and ``face_confidence`` floats (or ``None``).

    This is the in-memory form ``build_manifest`` returns; applying it after reading a parquet file
    (where pandas infers its string dtype and ``NaN``) gives back the same frame.
    """
    frame = frame.copy()
    for column in frame.columns:
        if column in ("label", "width", "height"):
            frame[column] = frame[column].astype("int64")
        elif column in _OPTIONAL_NUMBERS:
            # parquet gives a float column with NaN for a nullable integer: back to ints and None
            kind = _OPTIONAL_NUMBERS[column]
            frame[column] = pd.Series(
                [kind(value) if pd.notna(value) else None for value in frame[column]],
                index=frame.index,
                dtype=object,
            )
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _check_source_names_unique(frame: pd.DataFrame) -> None:
    datasets_per_source = frame.groupby("source")["dataset"].nunique()
    clashes = datasets_per_source[datasets_per_source > 1]
    if not clashes.empty:
        details = {s: sorted(frame.loc[frame["source"] == s, "dataset"].unique()) for s in clashes.index}
        raise SourceConfigError(
            f"several source entries yield the same source name(s): {details}; rename a folder or an entry"
        )


def _quarantine_label_conflicts(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[QuarantineEntry]]:
    if frame.empty:
        return frame, []
    labels_per_hash = frame.groupby("sha256")["label"].nunique()
    conflicting = set(labels_per_hash[labels_per_hash > 1].index)
    if not conflicting:
        return frame, []
    bad = frame["sha256"].isin(conflicting)
    entries: list[QuarantineEntry] = []
    for sha256, group in frame[bad].groupby("sha256"):
        places = ", ".join(
            f"{s} (label {lbl})" for s, lbl in sorted(set(zip(group["source"], group["label"], strict=True)))
        )
        # a face crop is named by the picture it was cut from
        paths = group["source_path"].where(group["source_path"].notna(), group["path"])
        entries.extend(
            QuarantineEntry(
                path, source, QuarantineCheck.LABEL_CONFLICT, f"identical file {sha256[:12]} is in {places}"
            )
            for path, source in zip(paths, group["source"], strict=True)
        )
    return frame[~bad].reset_index(drop=True), entries


def _report(
    manifest: pd.DataFrame,
    quarantine: pd.DataFrame,
    label_conflicts: int,
    hashing: dict[str, int],
    source_reports: dict[str, Any],
    ratios: tuple[float, float, float] | None,
    seed: int,
) -> dict[str, Any]:
    def counts(column: str) -> dict[str, int]:
        return {str(key): int(value) for key, value in manifest[column].value_counts().sort_index().items()}

    copies = manifest.groupby("sha256").agg(rows=("path", "size"), sources=("source", "nunique"))
    duplicated = copies[copies["rows"] > 1]
    fingerprints = source_fingerprints(manifest)
    return {
        "seed": seed,
        "split_ratios": list(ratios) if ratios is not None else None,
        "counts": {
            "rows": len(manifest),
            "quarantined": len(quarantine),
            "by_label": counts("label"),
            "by_source": counts("source"),
            "by_split": counts("split"),
            "by_stratum": split_counts_by_stratum(manifest),
            "identities": int(manifest["identity"].nunique()),
        },
        "duplicates": {
            "groups": len(duplicated),
            "rows": int(duplicated["rows"].sum()),
            "cross_source_groups": int((duplicated["sources"] > 1).sum()),
        },
        "label_conflicts": label_conflicts,
        "quarantine_by_check": {
            str(k): int(v) for k, v in quarantine["check"].value_counts().sort_index().items()
        },
        "fingerprints": fingerprints,
        "data_fingerprint": data_fingerprint(fingerprints),
        "hashing": hashing,
        "sources": source_reports,
    }
