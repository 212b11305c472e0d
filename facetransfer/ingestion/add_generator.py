"""Bring a new generator's images into the versioned ArtiFact root (``facetransfer add-generator``).

The images are copied into ``<data>/detection/<name>/`` with a ``metadata.csv`` (target 1), so
the ArtiFact source (every non-real sub-folder is a generator) picks them up with no
configuration change; then ``dvc add`` and ``dvc push`` record the new data hash. The next
(scheduled) pipeline run sees a new hash and retrains.

The source folder may be an ArtiFact folder (``metadata.csv`` + images; its ``image_path``
values are kept) or a plain folder of images (copied under ``images/`` with their relative
paths). A folder whose layout says some of its images are real is refused before anything is
read, naming what it found: a plain ``real/<source>/`` + ``fake/<generator>/`` folder holding
real images, or an ArtiFact root (sub-folders with their own ``metadata.csv``, such as ``ffhq/``);
taken whole, their real images would be stored as generated. A plain folder holding only
``fake/`` is taken, and the report says so.

Atomic, and only checked bytes. Each image is read once, into a staging folder outside the
versioned tree (``.local/add-generator/``, git-ignored and outside ``data/``, so DVC never sees
it), and the staged copy is what is hashed and decoded: the bytes checked are the bytes kept,
even if the source file changes meanwhile. Only regular files are read (``not_a_regular_file``),
up to ``max_file_bytes`` (``file_too_large``). The staged folder then replaces the generator
folder by renames; the old folder waits beside the staging folder until ``dvc add`` succeeded,
and is put back (with the old ``data.dvc``) when anything fails. The staging folder is removed
whatever happens. One ``add-generator`` runs at a time per repository
(``.local/add-generator.lock``), so what a run finds in the staging areas was left by a run that
was killed: a staging folder is removed, an old generator folder is put back if its replacement
never arrived, and the report lists both. (When ``.local/`` and ``data/`` are on different
filesystems, where a rename is no longer atomic, the staging folder is a hidden folder beside the
generator instead, treated the same way.)

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
from facetransfer.imaging.decoding import (
    DEFAULT_MAX_FILE_BYTES,
    FileTooLargeError,
    NotARegularFileError,
    read_image_file,
)
from facetransfer.ingestion.errors import GeneratorExistsError, SourceLayoutError
from facetransfer.ingestion.file_names import invalid_name_problem, printable_path
from facetransfer.ingestion.inspection import Inspector
from facetransfer.ingestion.readers import artifact, folder
from facetransfer.ingestion.readers.paths import image_file_names, is_image_name, resolve_inside
from facetransfer.ingestion.records import ImageCandidate, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import ARTIFACT_REAL_SOURCES, DETECTION_FOLDER, SourceConfig

logger = logging.getLogger(__name__)

_GENERATOR_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_REFUSAL_EXAMPLES = 10
STAGING_FOLDER = Path(".local") / "add-generator"
"""Where images are staged (relative to the repository root): git-ignored, outside DVC's ``data/``."""
LOCK_FILE = Path(".local") / "add-generator.lock"
"""Held for a whole run, so what the staging area holds at the start was left by a killed run."""


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
        notes: what the run decided about the source's layout.
        leftovers: what an interrupted earlier run had left and this run removed or put back.
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
    notes: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Multi-line human-readable summary."""
        lines = [
            f"generator {self.name!r}: {self.files_added} images ({self.bytes_added / 1e6:.1f} MB) "
            f"{'replaced' if self.replaced else 'added'} in {self.target_dir}",
            f"data hash: {self.old_md5 or '(none)'} -> {self.new_md5}" + (" (pushed)" if self.pushed else ""),
        ]
        lines += [f"  {note}" for note in [*self.notes, *self.leftovers]]
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
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> AddGeneratorReport:
    """Copy a generator's images into ``<data_dir>/detection/<name>/``, then ``dvc add`` + ``dvc push``.

    Args:
        name: generator name (lower-case letters, digits, ``_ . -``); must not be a real source.
        src: ArtiFact folder (with ``metadata.csv``) or plain folder of images (or of ``fake/`` only).
        repo_root: repository root (holds ``data.dvc``).
        data_dir: tracked data folder, relative to the root.
        overwrite: replace an existing generator folder of that name.
        push: run ``dvc push`` after ``dvc add``.
        category: ``category`` written to ``metadata.csv``.
        max_image_pixels: decompression-bomb limit for the copied images.
        max_file_bytes: largest image file read (``data.max_file_bytes``); larger ones are left out.

    Raises:
        ValueError: invalid or reserved name.
        FileNotFoundError: ``src`` is not a folder.
        GeneratorExistsError: the generator exists and ``overwrite`` is False.
        SourceLayoutError: ``src`` holds real images (``real/``, an ArtiFact root) or no valid image.
        LockBusyError: another ``add-generator`` runs in this repository.
    """
    from facetransfer.locks import exclusive_lock

    if not _GENERATOR_NAME.match(name) or name in ARTIFACT_REAL_SOURCES:
        raise ValueError(
            f"invalid generator name {name!r}: use lower-case letters, digits, '_', '.', '-', "
            f"and not a real source name ({', '.join(ARTIFACT_REAL_SOURCES)})"
        )
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"generator images folder {src} does not exist")
    notes = _layout_notes(name, src)
    repo_root = Path(repo_root)
    detection = repo_root / data_dir / DETECTION_FOLDER
    target = detection / name
    if target.exists() and not overwrite:
        raise GeneratorExistsError(
            f"generator {name!r} already exists at {target}; pass --overwrite to replace it"
        )
    with exclusive_lock(repo_root / LOCK_FILE):
        report = AddGeneratorReport(name=name, target_dir=target, notes=notes)
        report.leftovers = _clear_leftovers(repo_root / STAGING_FOLDER, detection)
        report.replaced = target.exists()
        staging_area = _staging_area(repo_root / STAGING_FOLDER, detection)
        staging = staging_area / f".{name}.incoming"
        try:
            _stage_valid_images(
                name,
                src,
                staging,
                category,
                Inspector(max_image_pixels=max_image_pixels, max_file_bytes=max_file_bytes),
                max_file_bytes,
                report,
            )
            if report.files_added == 0:
                raise SourceLayoutError(_refusal(src, report.quarantined))
            _swap_in_and_track(
                staging, target, staging_area / f".{name}.previous", repo_root, data_dir, push, report
            )
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    logger.info(
        "added generator %s: %d images, data %s -> %s",
        name,
        report.files_added,
        report.old_md5,
        report.new_md5,
    )
    return report


def _layout_notes(name: str, src: Path) -> list[str]:
    """Refuse a source whose layout marks images real; notes on how the layout was read.

    Raises:
        SourceLayoutError: a plain folder with ``real/`` images, or an ArtiFact root.
    """
    if (src / artifact.METADATA_FILE).is_file():
        return []
    subfolders = sorted(entry for entry in src.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    artifact_folders = [entry.name for entry in subfolders if (entry / artifact.METADATA_FILE).is_file()]
    if artifact_folders:
        listed = ", ".join(f"{folder_name}/{artifact.METADATA_FILE}" for folder_name in artifact_folders)
        raise SourceLayoutError(
            f"{src} is an ArtiFact root ({listed}), not one generator's folder: its real sources "
            f"would be stored as generator {name!r}. Give add-generator one generator's own folder "
            f"(the one holding its {artifact.METADATA_FILE})"
        )
    real_folders = [entry for entry in subfolders if entry.name.lower() == "real"]
    found = [folder_name for real in real_folders for folder_name in _real_images_found(real)]
    if found:
        listed = ", ".join(found)
        raise SourceLayoutError(
            f"{src} is laid out as real/ + fake/ and holds real images ({listed}): add-generator adds "
            f"generated images only and would store these as generator {name!r}. Give it the "
            f"generator's folder ({src}/fake/<generator>), or a folder holding only fake/"
        )
    if [entry.name.lower() for entry in subfolders] == ["fake"]:
        generators = sorted(entry.name for entry in subfolders[0].iterdir() if entry.is_dir())
        return [
            f"took {src}/{subfolders[0].name}/ (a plain folder holding only fake/): every image in it "
            f"is generator {name!r}" + (f" (sub-folders: {', '.join(generators)})" if generators else "")
        ]
    return []


def _real_images_found(real: Path) -> list[str]:
    """``real/<source>/`` of each sub-folder of ``real`` holding an image (``real/`` for loose ones)."""
    entries = sorted(entry for entry in real.iterdir() if not entry.name.startswith("."))
    found = [f"{real.name}/"] if any(is_image_name(e.name) and e.is_file() for e in entries) else []
    for source in (entry for entry in entries if entry.is_dir()):
        if next(image_file_names(source), None) is not None:
            found.append(f"{real.name}/{source.name}/")
    return found


def _staging_area(local: Path, detection: Path) -> Path:
    """``local`` when it shares ``detection``'s filesystem (renames are atomic), else ``detection``."""
    local.mkdir(parents=True, exist_ok=True)
    detection.mkdir(parents=True, exist_ok=True)
    if os.stat(local).st_dev == os.stat(detection).st_dev:
        return local
    logger.warning(
        "%s and %s are on different filesystems: staging in a hidden folder of %s",
        local,
        detection,
        detection,
    )
    return detection


def _clear_leftovers(local: Path, detection: Path) -> list[str]:
    """Remove (or put back) what killed runs left in the staging areas; say what was done.

    Called with the lock held: no other run is using these folders.
    """
    done: list[str] = []
    for area in (local, detection):
        if not area.is_dir():
            continue
        for entry in sorted(area.iterdir()):
            if not entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
                continue
            if entry.name.endswith(".incoming"):
                shutil.rmtree(entry)
                done.append(f"removed {entry}, the staging folder of an interrupted add-generator run")
            elif entry.name.endswith(".previous"):
                generator = detection / entry.name[1 : -len(".previous")]
                if generator.exists():
                    shutil.rmtree(entry)
                    done.append(f"removed {entry}, images an interrupted add-generator run had replaced")
                else:
                    entry.rename(generator)
                    done.append(
                        f"restored {generator} from {entry}, set aside by an interrupted add-generator run"
                    )
    for message in done:
        logger.warning(message)
    return done


def _swap_in_and_track(
    staging: Path,
    target: Path,
    previous: Path,
    repo_root: Path,
    data_dir: str,
    push: bool,
    report: AddGeneratorReport,
) -> None:
    """Rename ``staging`` into ``target`` and ``dvc add``; on any failure, put the old state back."""
    from facetransfer.ingestion import versioning

    pointer = repo_root / f"{data_dir}.dvc"
    old_pointer = pointer.read_bytes() if pointer.is_file() else None
    if target.exists():
        target.rename(previous)
    try:
        staging.rename(target)
        report.old_md5, report.new_md5, report.pushed = versioning.track_data(repo_root, data_dir, push=push)
    except BaseException:
        if target.exists():
            shutil.rmtree(target)
        if previous.exists():
            previous.rename(target)
        if old_pointer is not None:
            pointer.write_bytes(old_pointer)
        elif pointer.exists():
            pointer.unlink()
        logger.error("add-generator failed: %s and %s left as they were", target, pointer.name)
        raise
    if previous.exists():
        shutil.rmtree(previous)
    meta = versioning.read_dvc_meta(pointer)
    if meta.pop("demo_options", None) is not None:
        logger.info("data is no longer pure demo data: removed demo_options from %s", pointer.name)
    meta["generators_added"] = sorted({*meta.get("generators_added", []), report.name})
    versioning.write_dvc_meta(pointer, meta)


def _stage_valid_images(
    name: str,
    src: Path,
    staging: Path,
    category: str,
    inspector: Inspector,
    max_file_bytes: int,
    report: AddGeneratorReport,
) -> None:
    """Read each image once into ``staging``, check the staged copy, keep it only when valid."""
    is_artifact = (src / artifact.METADATA_FILE).is_file()
    config = SourceConfig(
        name=name, format="artifact" if is_artifact else "folder", path=str(src), role="fake"
    )
    root = Path(os.path.normpath(src.absolute()))
    discovery = (artifact if is_artifact else folder).discover(config, root)
    report.quarantined.extend(discovery.quarantine)
    if any(entry.check is QuarantineCheck.TARGET_MISMATCH for entry in discovery.quarantine):
        logger.warning("%s: rows marked real in %s are left out, not relabelled", src, artifact.METADATA_FILE)
    rows: list[tuple[str, int, str]] = []
    real_root = Path(os.path.realpath(root))
    staging.mkdir(parents=True)
    for candidate in discovery.candidates:
        relative = candidate.relative_path if is_artifact else f"images/{candidate.relative_path}"
        left_out = _link_escape(candidate, root, real_root, name) or _stage_file(
            candidate, staging / relative, name, max_file_bytes
        )
        if left_out is None:
            facts = inspector.image_facts(staging / relative)
            if facts.check is None:
                rows.append((relative, 1, category))
                report.files_added += 1
                report.bytes_added += facts.size_bytes
                continue
            (staging / relative).unlink()
            left_out = QuarantineEntry(printable_path(candidate.path), name, facts.check, facts.problem or "")
        report.quarantined.append(left_out)
    if rows:
        artifact.write_metadata(staging, rows)


def _stage_file(
    candidate: ImageCandidate, destination: Path, name: str, max_file_bytes: int
) -> QuarantineEntry | None:
    """Copy ``candidate`` to ``destination`` reading it once, or say why it is left out.

    Only a regular file of at most ``max_file_bytes`` is read (``read_image_file``: a FIFO is
    never waited on, a device never read), so the staged bytes are all that is ever read of it.
    """
    path = candidate.path

    def left_out(check: QuarantineCheck, reason: str) -> QuarantineEntry:
        return QuarantineEntry(printable_path(path), name, check, reason)

    problem = invalid_name_problem(path)
    if problem is not None:
        return left_out(QuarantineCheck.INVALID_FILE_NAME, problem)
    try:
        data = read_image_file(path, max_bytes=max_file_bytes)
    except NotARegularFileError as error:
        return left_out(QuarantineCheck.NOT_A_REGULAR_FILE, printable_path(str(error)))
    except FileTooLargeError as error:
        return left_out(QuarantineCheck.FILE_TOO_LARGE, printable_path(str(error)))
    except OSError as error:
        return left_out(QuarantineCheck.UNREADABLE_FILE, printable_path(f"cannot read file: {error}"))
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(data)
    return None


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
