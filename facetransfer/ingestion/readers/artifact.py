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

Column names are matched as the format means them, ignoring case and surrounding spaces
(``Target``, `` IMAGE_PATH ``). A file without a ``target`` column but with one that looks like a
label (``label``, ``is_fake``, ``class``, ...) quarantines its folder (``invalid_metadata``,
naming the column): its labels would otherwise be ignored and every row take the folder's role.
Two columns that are one name apart only in case or spaces do the same (which one is meant?).

The rows of one image are judged together, so their order never decides a label: rows listing
the same image with targets that disagree (one real, one generated) quarantine the image
(``contradicting_metadata``, naming each line and its target); rows that repeat an image with the
same label keep it once and report the repeat (``duplicate_entry``, naming the lines).

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
import re
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
_COLUMNS_READ = ("image_path", "target", "category")
_LABEL_LIKE_COLUMN = re.compile(r"label|fake|real|target|class|generated|synthetic|^y$|^gt$|ground.?truth")
"""Column names (lower case) that say "this is the label" when the file has no ``target`` column."""


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
    header, records = rows
    problem = _column_problem(header)
    if problem is not None:
        scan.quarantine(
            metadata, QuarantineCheck.INVALID_METADATA, f"{problem}; the folder's images are not ingested"
        )
        return
    listings: dict[Path, list[_Listing]] = {}
    for line_number, row in records:
        listing = scan.listing(row, line_number)
        if listing is not None:
            listings.setdefault(listing.path, []).append(listing)
    for path, image_listings in listings.items():
        scan.read_image(path, image_listings)
    scan.report["listed"] = len(scan.listed)
    _report_unlisted(scan)
    result.report["target_mismatches"] += scan.report["target_mismatches"]


def _metadata_rows(metadata: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | str:
    """The header (as written) and ``(line number, row)`` of a ``metadata.csv``, or why it cannot be read.

    Rows are keyed by the column names as the format means them (lower case, stripped). The whole
    file is decoded before any row is used, so a bad byte at the end never leaves a folder
    half-read. ``utf-8-sig`` drops the byte-order mark Excel puts before the header.
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
        header = list(reader.fieldnames or [])
        reader.fieldnames = [_column_key(name) for name in header]
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        return f"{metadata} is not valid CSV (line {reader.line_num}): {error}"
    return header, records


def _column_key(name: str) -> str:
    """A column name as the ArtiFact format means it: case and surrounding spaces do not count."""
    return name.strip().lower()


def _column_problem(header: list[str]) -> str | None:
    """Why ``header`` cannot be read as ArtiFact columns, or ``None``.

    Refused: no ``image_path``; a column the reader uses named twice (``target`` and ``Target``:
    one would be kept silently); a label under another name (``label``, ``is_fake``) and no
    ``target`` (every row would silently take the folder's role).
    """
    shown = ", ".join(repr(name) for name in header) or "none"
    by_key: dict[str, list[str]] = {}
    for name in header:
        by_key.setdefault(_column_key(name), []).append(name)
    repeated = [names for key, names in by_key.items() if key in _COLUMNS_READ and len(names) > 1]
    if repeated:
        names = " and ".join(repr(name) for name in repeated[0])
        return f"columns {names} are one column named twice (case and spaces do not count); keep one"
    if "image_path" not in by_key:
        return f"no 'image_path' column (columns: {shown})"
    if "target" not in by_key:
        label_like = [name for name in header if _LABEL_LIKE_COLUMN.search(_column_key(name))]
        if label_like:
            return (
                f"column {label_like[0]!r} looks like a label, but the ArtiFact label column is 'target' "
                f"(0 real, other values generated); rename it to 'target' (columns: {shown})"
            )
    return None


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


@dataclass(frozen=True)
class _Listing:
    """One ``metadata.csv`` row naming an image: where it is, what it says."""

    path: Path
    relative: str
    line: int
    target: str
    category: str

    @property
    def where(self) -> str:
        """The row, as messages name it."""
        return f"{METADATA_FILE} line {self.line}"


def _lines(listings: list[_Listing]) -> str:
    """``lines 2 and 4`` / ``lines 2, 4 and 7``."""
    numbers = [str(listing.line) for listing in listings]
    return f"lines {', '.join(numbers[:-1])} and {numbers[-1]}"


def _label_name(target: str) -> str:
    return "real" if _target_label(target) == 0 else "generated"


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

    def listing(self, row: dict[str, str], line_number: int) -> _Listing | None:
        """One ``metadata.csv`` row as a listing of an image, or ``None`` (quarantined) when it names none."""
        relative = (row.get("image_path") or "").strip()
        where = f"{METADATA_FILE} line {line_number}"
        if not relative:
            self.quarantine(
                self.folder / METADATA_FILE, QuarantineCheck.INVALID_METADATA, f"{where}: empty image_path"
            )
            return None
        path = resolve_inside(self.folder, relative)
        if path is None:
            self.quarantine(
                self.folder / relative,
                QuarantineCheck.PATH_ESCAPES_ROOT,
                f"{where}: image_path {relative!r} points outside {self.folder}",
            )
            return None
        target = (row.get("target") or "").strip()
        category = (row.get("category") or "").strip()
        return _Listing(path, relative, line_number, target, category)

    def read_image(self, path: Path, listings: list[_Listing]) -> None:
        """Turn every row listing ``path`` into one candidate, or quarantine entries and report counts.

        All rows of an image are judged together: which one comes first never decides its label.
        """
        first = listings[0]
        self.listed.add(path)
        if not path.is_file():
            self.quarantine(path, QuarantineCheck.MISSING_FILE, f"{first.where} lists it but it is missing")
            return
        for listing in listings:
            if listing.target and _target_label(listing.target) is None:
                self.quarantine(
                    path,
                    QuarantineCheck.INVALID_METADATA,
                    f"{listing.where}: target {listing.target!r} is not an integer "
                    "(0 real, other values generated)",
                )
                return
        stated = [listing for listing in listings if listing.target]
        if len({_target_label(listing.target) for listing in stated}) > 1:
            self._contradiction(path, listings)
            return
        if len(listings) > 1:
            self.report["duplicate_rows"] = self.report.get("duplicate_rows", 0) + len(listings) - 1
            self.quarantine(
                path,
                QuarantineCheck.DUPLICATE_ENTRY,
                f"{METADATA_FILE} {_lines(listings)} all list {first.relative!r} with the same label; "
                "kept once (remove the repeated rows)",
            )
        if stated and _target_label(stated[0].target) != self.label:
            self._target_mismatch(path, stated[0].relative, stated[0].target, stated[0].where)
            return
        self.report["categories"][first.category] = self.report["categories"].get(first.category, 0) + 1
        self.result.candidates.append(
            ImageCandidate(
                path=path,
                relative_path=relative_posix(path, self.folder),
                label=self.label,
                source=self.source,
                generator=self.source if self.label == 1 else None,
            )
        )

    def _contradiction(self, path: Path, listings: list[_Listing]) -> None:
        self.report["contradicting_images"] = self.report.get("contradicting_images", 0) + 1
        said = ", ".join(
            f"line {listing.line} target {listing.target} ({_label_name(listing.target)})"
            if listing.target
            else f"line {listing.line} no target"
            for listing in listings
        )
        self.quarantine(
            path,
            QuarantineCheck.CONTRADICTING_METADATA,
            f"{METADATA_FILE} {_lines(listings)} disagree about {listings[0].relative!r}: {said}; "
            "not ingested until the rows agree (fix or remove one)",
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
