"""Reader of the ArtiFact layout: one folder per real source or generator, each with ``metadata.csv``.

``metadata.csv`` has (at least) the columns ``image_path`` (relative to the folder), ``target``
(0 real, anything else generated) and ``category``. The source accepts either

* an ArtiFact root holding such folders: each sub-folder named in ``real`` is a real source and
  every other one a generator, so a generator folder dropped in later is picked up without a
  configuration change (unless ``role`` fixes one role for all of them); or
* a single such folder: its role is ``role``, or with ``auto`` real when its name is in ``real``.

The configured role decides a folder's label, and ``target`` is checked against it, never
rewritten: a row whose ``target`` disagrees (a row marked real in a generator folder, or the
reverse) is quarantined (``target_mismatch``, naming the line and both labels) and counted in the
folder's report. A ``target`` that is not an integer (``inf``, ``fake``) quarantines its row
(``invalid_metadata``); an empty one defers to the role.

``metadata.csv`` is read as UTF-8, with or without the byte-order mark Excel writes. A file that
is not UTF-8, or not CSV, quarantines its folder (``invalid_metadata``, naming the file and the
offending byte) and the other folders are read as usual. Image files present in a folder but not
listed in its ``metadata.csv`` are not ingested; they are counted, listed (the first
``UNLISTED_EXAMPLES``) in the folder's report and logged as a warning.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetransfer.ingestion.file_names import printable_path
from facetransfer.ingestion.readers.paths import image_file_names, relative_posix, resolve_inside
from facetransfer.ingestion.records import DiscoveryResult, ImageCandidate, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import SourceConfig

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.csv"
_MAX_EXAMPLES = 5
UNLISTED_EXAMPLES = 20
"""Unlisted image files named in a folder's report (all of them are counted)."""


def write_metadata(folder: Path, rows: list[tuple[str, int, str]]) -> None:
    """Write ``folder``'s ``metadata.csv`` from ``(image_path, target, category)`` rows."""
    with (folder / METADATA_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["image_path", "target", "category"])
        writer.writerows(rows)


def discover(config: SourceConfig, folder: Path, *, derived_dir: Path | None = None) -> DiscoveryResult:
    """List the images of an ArtiFact root or of a single ArtiFact folder.

    Args:
        config: the source (``role`` and ``real`` decide each folder's label).
        folder: the ArtiFact root or one ArtiFact folder.
        derived_dir: unused.
    """
    result = DiscoveryResult(report={"folders": {}, "target_mismatches": 0})
    if (folder / METADATA_FILE).is_file():
        label = _label_for(config, folder.name)
        _read_folder(config, folder, config.name, label, result)
        return result
    for subfolder in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (subfolder / METADATA_FILE).is_file():
            result.quarantine.append(
                QuarantineEntry(
                    str(subfolder),
                    subfolder.name,
                    QuarantineCheck.INVALID_METADATA,
                    f"ArtiFact folder without {METADATA_FILE}; its images are not ingested",
                )
            )
            continue
        _read_folder(config, subfolder, subfolder.name, _label_for(config, subfolder.name), result)
    return result


def _label_for(config: SourceConfig, folder_name: str) -> int:
    if config.role == "real":
        return 0
    if config.role == "fake":
        return 1
    return 0 if folder_name in config.real else 1


def _read_folder(
    config: SourceConfig, folder: Path, source: str, label: int, result: DiscoveryResult
) -> None:
    metadata = folder / METADATA_FILE
    scan = _FolderScan(folder=folder, source=source, label=label, result=result)
    result.report["folders"][source] = scan.report
    rows = _metadata_rows(metadata)
    if isinstance(rows, str):
        scan.quarantine(
            metadata, QuarantineCheck.INVALID_METADATA, f"{rows}; the folder's images are not ingested"
        )
        return
    columns, records = rows
    if "image_path" not in columns:
        scan.quarantine(
            metadata,
            QuarantineCheck.INVALID_METADATA,
            f"no 'image_path' column (columns: {', '.join(columns) or 'none'})",
        )
        return
    for line_number, row in records:
        scan.read_row(row, line_number)
    scan.report["listed"] = len(scan.listed)
    _report_unlisted(scan)
    result.report["target_mismatches"] += scan.report["target_mismatches"]


def _metadata_rows(metadata: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | str:
    """Columns and ``(line number, row)`` of a ``metadata.csv``, or why it cannot be read.

    The whole file is decoded before any row is used, so a bad byte at the end never leaves a
    folder half-read. ``utf-8-sig`` drops the byte-order mark Excel puts before the header.
    """
    try:
        text = metadata.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return (
            f"{metadata} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start}); "
            "save it as UTF-8 (CSV UTF-8 in Excel)"
        )
    except OSError as error:
        return f"cannot read {metadata}: {error}"
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        columns = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = columns
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        return f"{metadata} is not valid CSV (line {reader.line_num}): {error}"
    return columns, records


def _report_unlisted(scan: _FolderScan) -> None:
    listed = {str(path) for path in scan.listed}
    unlisted = sorted(name for name in image_file_names(scan.folder) if name not in listed)
    scan.report["unlisted_files"] = len(unlisted)
    scan.report["unlisted_examples"] = [
        printable_path(relative_posix(Path(name), scan.folder)) for name in unlisted[:UNLISTED_EXAMPLES]
    ]
    if unlisted:
        logger.warning(
            "%s: %d image file(s) not listed in %s are not ingested (e.g. %s)",
            scan.folder,
            len(unlisted),
            METADATA_FILE,
            ", ".join(scan.report["unlisted_examples"][:3]),
        )


@dataclass
class _FolderScan:
    """State of reading one ArtiFact folder's ``metadata.csv``."""

    folder: Path
    source: str
    label: int
    result: DiscoveryResult
    listed: set[Path] = field(default_factory=set)
    report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.report.update(
            role="real" if self.label == 0 else "fake",
            target_mismatches=0,
            mismatch_examples=[],
            categories={},
        )

    def quarantine(self, path: Path | str, check: QuarantineCheck, reason: str) -> None:
        """Record a quarantined path of this folder."""
        self.result.quarantine.append(QuarantineEntry(str(path), self.source, check, reason))

    def read_row(self, row: dict[str, str], line_number: int) -> None:
        """Turn one ``metadata.csv`` row into a candidate, a quarantine entry or a report count."""
        relative = (row.get("image_path") or "").strip()
        where = f"{METADATA_FILE} line {line_number}"
        if not relative:
            self.quarantine(
                self.folder / METADATA_FILE, QuarantineCheck.INVALID_METADATA, f"{where}: empty image_path"
            )
            return
        path = resolve_inside(self.folder, relative)
        if path is None:
            self.quarantine(
                self.folder / relative,
                QuarantineCheck.PATH_ESCAPES_ROOT,
                f"{where}: image_path {relative!r} points outside {self.folder}",
            )
            return
        if path in self.listed:
            return
        self.listed.add(path)
        if not path.is_file():
            self.quarantine(path, QuarantineCheck.MISSING_FILE, f"{where} lists it but it is missing")
            return
        target = (row.get("target") or "").strip()
        if target:
            target_label = _target_label(target)
            if target_label is None:
                self.quarantine(
                    path,
                    QuarantineCheck.INVALID_METADATA,
                    f"{where}: target {target!r} is not an integer (0 real, other values generated)",
                )
                return
            if target_label != self.label:
                self._target_mismatch(path, relative, target, where)
                return
        category = (row.get("category") or "").strip()
        self.report["categories"][category] = self.report["categories"].get(category, 0) + 1
        self.result.candidates.append(
            ImageCandidate(
                path=path,
                relative_path=relative_posix(path, self.folder),
                label=self.label,
                source=self.source,
                generator=self.source if self.label == 1 else None,
            )
        )

    def _target_mismatch(self, path: Path, relative: str, target: str, where: str) -> None:
        role = "real" if self.label == 0 else "generated"
        said = "real" if self.label == 1 else "generated"
        self.report["target_mismatches"] += 1
        if len(self.report["mismatch_examples"]) < _MAX_EXAMPLES:
            self.report["mismatch_examples"].append(
                {"image_path": relative, "target": target, "label": self.label}
            )
        self.quarantine(
            path,
            QuarantineCheck.TARGET_MISMATCH,
            f"{where}: target {target} marks {relative!r} {said}, but folder {self.source!r} holds "
            f"{role} images (label {self.label}); fix the row or move the file",
        )


def _target_label(target: str) -> int | None:
    """0 for a real ``target``, 1 for a generated one, ``None`` when it is not a finite integer."""
    try:
        value = float(target)
    except ValueError:
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return 0 if value == 0 else 1
