"""Bring a new generator's images into the versioned ArtiFact root (``facetransfer add-generator``).

The images are copied into ``<data>/detection/<name>/`` with a ``metadata.csv`` (target 1), so
the ArtiFact source (every non-real sub-folder is a generator) picks them up with no
configuration change; then ``dvc add`` and ``dvc push`` record the new data hash. The next
(scheduled) pipeline run sees a new hash and retrains.

The source folder may be an ArtiFact folder (``metadata.csv`` + images; its ``image_path``
values are kept) or a plain folder of images (copied under ``images/`` with their relative
paths). Every image is decoded before it is copied; bad ones are reported and left out. The
copy is written to a hidden staging folder and renamed into place, so an interrupted run never
leaves a half-copied generator behind.

Nothing is relabelled: an ArtiFact row whose ``target`` marks its image real (0) is left out
(``target_mismatch``) and listed with its line, exactly as ingestion would quarantine it. A
symbolic link whose target lies outside the source folder is left out too
(``path_escapes_root``): the copy would otherwise pull files from anywhere on the machine into
the versioned data. (Ingestion follows links, because DVC's ``symlink`` cache mode makes every
tracked file a link into ``.dvc/cache``; the incoming folder of ``add-generator`` is not DVC's.)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from facetransfer.imaging.checks import DEFAULT_MAX_IMAGE_PIXELS
from facetransfer.ingestion.errors import GeneratorExistsError, SourceLayoutError
from facetransfer.ingestion.file_names import printable_path
from facetransfer.ingestion.inspection import Inspector
from facetransfer.ingestion.readers import artifact, folder
from facetransfer.ingestion.readers.paths import resolve_inside
from facetransfer.ingestion.records import ImageCandidate, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import ARTIFACT_REAL_SOURCES, DETECTION_FOLDER, SourceConfig

logger = logging.getLogger(__name__)

_GENERATOR_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_REFUSAL_EXAMPLES = 10


@dataclass
class AddGeneratorReport:
    """What ``add_generator`` changed.

    Attributes:
        name: generator name (folder name under the ArtiFact root).
        target_dir: where the images now are.
        files_added: images copied.
        bytes_added: their total size.
        quarantined: images left out, with reasons.
        replaced: whether an existing generator folder was replaced.
        old_md5, new_md5: data hash before and after (``None`` if there was no pointer before).
        pushed: whether ``dvc push`` ran.
    """

    name: str
    target_dir: Path
    files_added: int = 0
    bytes_added: int = 0
    quarantined: list[QuarantineEntry] = field(default_factory=list)
    replaced: bool = False
    old_md5: str | None = None
    new_md5: str | None = None
    pushed: bool = False

    def describe(self) -> str:
        """Multi-line human-readable summary."""
        lines = [
            f"generator {self.name!r}: {self.files_added} images ({self.bytes_added / 1e6:.1f} MB) "
            f"{'replaced' if self.replaced else 'added'} in {self.target_dir}",
            f"data hash: {self.old_md5 or '(none)'} -> {self.new_md5}" + (" (pushed)" if self.pushed else ""),
        ]
        lines += [
            f"  left out {printable_path(entry.path)}: {entry.check.value}: {printable_path(entry.reason)}"
            for entry in self.quarantined
        ]
        return "\n".join(lines)


def add_generator(
    name: str,
    src: str | Path,
    *,
    repo_root: str | Path,
    data_dir: str = "data",
    overwrite: bool = False,
    push: bool = True,
    category: str = "human_faces",
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> AddGeneratorReport:
    """Copy a generator's images into ``<data_dir>/detection/<name>/``, then ``dvc add`` + ``dvc push``.

    Args:
        name: generator name (lower-case letters, digits, ``_ . -``); must not be a real source.
        src: ArtiFact folder (with ``metadata.csv``) or plain folder of images.
        repo_root: repository root (holds ``data.dvc``).
        data_dir: tracked data folder, relative to the root.
        overwrite: replace an existing generator folder of that name.
        push: run ``dvc push`` after ``dvc add``.
        category: ``category`` written to ``metadata.csv``.
        max_image_pixels: decompression-bomb limit for the copied images.

    Raises:
        ValueError: invalid or reserved name.
        FileNotFoundError: ``src`` is not a folder.
        GeneratorExistsError: the generator exists and ``overwrite`` is False.
        SourceLayoutError: ``src`` holds no valid image.
    """
    from facetransfer.ingestion.versioning import read_dvc_meta, track_data, write_dvc_meta

    if not _GENERATOR_NAME.match(name) or name in ARTIFACT_REAL_SOURCES:
        raise ValueError(
            f"invalid generator name {name!r}: use lower-case letters, digits, '_', '.', '-', "
            f"and not a real source name ({', '.join(ARTIFACT_REAL_SOURCES)})"
        )
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"generator images folder {src} does not exist")
    repo_root = Path(repo_root)
    target = repo_root / data_dir / DETECTION_FOLDER / name
    if target.exists() and not overwrite:
        raise GeneratorExistsError(
            f"generator {name!r} already exists at {target}; pass --overwrite to replace it"
        )
    report = AddGeneratorReport(name=name, target_dir=target, replaced=target.exists())
    staging = target.with_name(f".{name}.incoming")
    shutil.rmtree(staging, ignore_errors=True)
    _copy_valid_images(name, src, staging, category, max_image_pixels, report)
    if report.files_added == 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SourceLayoutError(_refusal(src, report.quarantined))
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    report.old_md5, report.new_md5, report.pushed = track_data(repo_root, data_dir, push=push)
    meta = read_dvc_meta(repo_root / f"{data_dir}.dvc")
    if meta.pop("demo_options", None) is not None:
        logger.info("data is no longer pure demo data: removed demo_options from %s.dvc", data_dir)
    meta["generators_added"] = sorted({*meta.get("generators_added", []), name})
    write_dvc_meta(repo_root / f"{data_dir}.dvc", meta)
    logger.info(
        "added generator %s: %d images, data %s -> %s",
        name,
        report.files_added,
        report.old_md5,
        report.new_md5,
    )
    return report


def _copy_valid_images(
    name: str, src: Path, staging: Path, category: str, max_image_pixels: int, report: AddGeneratorReport
) -> None:
    is_artifact = (src / artifact.METADATA_FILE).is_file()
    config = SourceConfig(
        name=name, format="artifact" if is_artifact else "folder", path=str(src), role="fake"
    )
    root = Path(os.path.normpath(src.absolute()))
    discovery = (artifact if is_artifact else folder).discover(config, root)
    report.quarantined.extend(discovery.quarantine)
    if any(entry.check is QuarantineCheck.TARGET_MISMATCH for entry in discovery.quarantine):
        logger.warning("%s: rows marked real in %s are left out, not relabelled", src, artifact.METADATA_FILE)
    inspector = Inspector(max_image_pixels=max_image_pixels)
    rows: list[tuple[str, int, str]] = []
    real_root = Path(os.path.realpath(root))
    for candidate in discovery.candidates:
        escape = _link_escape(candidate, root, real_root, name)
        if escape is not None:
            report.quarantined.append(escape)
            continue
        facts = inspector.image_facts(candidate.path)
        if facts.check is not None:
            report.quarantined.append(
                QuarantineEntry(printable_path(candidate.path), name, facts.check, facts.problem or "")
            )
            continue
        relative = candidate.relative_path if is_artifact else f"images/{candidate.relative_path}"
        destination = staging / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(candidate.path, destination)
        rows.append((relative, 1, category))
        report.files_added += 1
        report.bytes_added += facts.size_bytes
    if rows:
        artifact.write_metadata(staging, rows)


def _link_escape(candidate: ImageCandidate, root: Path, real_root: Path, name: str) -> QuarantineEntry | None:
    """A quarantine entry when ``candidate`` resolves (through symbolic links) outside ``root``.

    ``real_root`` is ``root`` with its own links resolved (``os.path.realpath``).
    """
    target = os.path.realpath(candidate.path)
    if resolve_inside(real_root, target) is not None:
        return None
    return QuarantineEntry(
        printable_path(candidate.path),
        name,
        QuarantineCheck.PATH_ESCAPES_ROOT,
        f"symbolic link to {printable_path(target)}, outside {root}; copy the file itself into the folder",
    )


def _refusal(src: Path, rejected: list[QuarantineEntry]) -> str:
    """Why nothing was added, listing the rejected files (the first ``_REFUSAL_EXAMPLES``)."""
    lines = [f"no valid image in {src}; nothing added ({len(rejected)} rejected)"]
    lines += [
        f"  {printable_path(entry.path)}: {entry.check.value}: {printable_path(entry.reason)}"
        for entry in rejected[:_REFUSAL_EXAMPLES]
    ]
    if len(rejected) > _REFUSAL_EXAMPLES:
        lines.append(f"  ... and {len(rejected) - _REFUSAL_EXAMPLES} more")
    return "\n".join(lines)
