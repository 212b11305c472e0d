"""Records passed between the readers, the image checks and the manifest builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetransfer.quarantine import QuarantineCheck


@dataclass(frozen=True)
class QuarantineEntry:
    """A file (or source) left out of the manifest, with the check it failed and why."""

    path: str
    source: str
    check: QuarantineCheck
    reason: str


@dataclass(frozen=True)
class ImageCandidate:
    """An image a reader found, before its bytes were hashed and decoded.

    Attributes:
        path: absolute path of the image.
        relative_path: path relative to the source folder, ``/``-separated (used for identities).
        label: 0 real, 1 generated.
        source: value of the manifest's ``source`` column (a sub-folder name for multi-folder sources).
        generator: generator name for generated images, ``None`` for real ones.
        mask_path: absolute path of the segmentation mask, if any.
        mask_encoding: ``"color"`` or ``"index"`` (see ``facetransfer.classes.MASK_ENCODINGS``).
    """

    path: Path
    relative_path: str
    label: int
    source: str
    generator: str | None = None
    mask_path: Path | None = None
    mask_encoding: str | None = None


@dataclass
class DiscoveryResult:
    """What a format reader found in one source: candidates, quarantined entries and a report."""

    candidates: list[ImageCandidate] = field(default_factory=list)
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ManifestRow:
    """One row of the manifest (see ``facetransfer.ingestion.manifest`` for the column meanings)."""

    path: str
    sha256: str
    label: int
    dataset: str
    source: str
    generator: str | None
    width: int
    height: int
    mode: str
    identity: str | None = None
    mask_path: str | None = None
    mask_encoding: str | None = None
    mask_scheme: str | None = None
    mask_sha256: str | None = None
    source_path: str | None = None
    source_sha256: str | None = None
    face_index: int | None = None
    face_box: str | None = None
    face_landmarks: str | None = None
    face_confidence: float | None = None


@dataclass
class ReaderResult:
    """A source turned into manifest rows (without splits), quarantine entries and a report."""

    rows: list[ManifestRow] = field(default_factory=list)
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
