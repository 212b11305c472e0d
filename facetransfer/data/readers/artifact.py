"""Reader of the ArtiFact layout: one folder per real source or generator, each with ``metadata.csv``.

``metadata.csv`` has (at least) the columns ``image_path`` (relative to the folder), ``target``
(0 real, anything else generated) and ``category``. The source accepts either

* an ArtiFact root holding such folders: each sub-folder named in ``real`` is a real source and
  every other one a generator, so a generator folder dropped in later is picked up without a
  configuration change (unless ``role`` fixes one role for all of them); or
* a single such folder: its role is ``role``, or with ``auto`` real when its name is in ``real``.

The configured role wins over ``target``: rows whose ``target`` disagrees are kept with the
configured label and reported (count and examples) as ``target_mismatches``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetransfer.data.readers.paths import image_file_names, relative_posix, resolve_inside
from facetransfer.data.records import DiscoveryResult, ImageCandidate, QuarantineCheck, QuarantineEntry
from facetransfer.data.sources import SourceConfig

METADATA_FILE = "metadata.csv"
_MAX_EXAMPLES = 5


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
    with metadata.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "image_path" not in columns:
            result.quarantine.append(
                QuarantineEntry(
                    str(metadata),
                    source,
                    QuarantineCheck.INVALID_METADATA,
                    f"no 'image_path' column (columns: {', '.join(columns) or 'none'})",
                )
            )
            return
        for line_number, row in enumerate(reader, start=2):
            scan.read_row(row, line_number)
    scan.report["listed"] = len(scan.listed)
    listed = {str(path) for path in scan.listed}
    scan.report["unlisted_files"] = sum(1 for name in image_file_names(folder) if name not in listed)
    result.report["target_mismatches"] += scan.report["target_mismatches"]


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
        if target and _target_label(target) != self.label:
            self.report["target_mismatches"] += 1
            if len(self.report["mismatch_examples"]) < _MAX_EXAMPLES:
                self.report["mismatch_examples"].append(
                    {"image_path": relative, "target": target, "label": self.label}
                )
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


def _target_label(target: str) -> int | None:
    """0 for a real ``target``, 1 for a generated one, ``None`` when it is not an integer."""
    try:
        return 0 if int(float(target)) == 0 else 1
    except ValueError:
        return None
