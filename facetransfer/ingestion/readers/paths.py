"""Path helpers shared by the readers: containment checks and image listing.

Listing follows symbolic links to folders (a tree may link in folders from another disk), with
loop protection: every folder walked is known by ``(st_dev, st_ino)``, and a link to a folder
already walked is not followed again but reported (``SkippedLink``): a loop when it leads back to
a folder on its own path (following it would never end), a repeat when it leads to a folder listed
through another path (listing it again would multiply its images). Links that point at each other
(the system's ``ELOOP``) are loops too. Nothing linked is left out unseen.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from facetransfer.ingestion.file_names import printable_path
from facetransfer.ingestion.records import DiscoveryResult, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import IMAGE_EXTENSIONS


def resolve_inside(root: Path, relative: str) -> Path | None:
    """Join ``relative`` to ``root`` and return the normalised result, or ``None`` if it escapes ``root``.

    The check is lexical: ``..`` components and absolute paths that leave the root escape.
    Symbolic links are followed, not judged: DVC's ``symlink`` cache mode makes every tracked file
    a link into ``.dvc/cache``, and resolving them would quarantine a whole checkout (and cost a
    system call per path component).
    """
    root_text = os.path.normpath(os.path.abspath(root))
    candidate = os.path.normpath(os.path.join(root_text, relative))
    if candidate != root_text and not candidate.startswith(root_text.rstrip(os.sep) + os.sep):
        return None
    return Path(candidate)


def relative_posix(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators."""
    text, base = str(path), str(root).rstrip(os.sep)
    if text.startswith(base + os.sep):  # the common case, without pathlib's per-part parsing
        return text[len(base) + 1 :].replace(os.sep, "/")
    return path.relative_to(root).as_posix()


def is_image_name(name: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> bool:
    """Whether a file name has one of ``extensions`` (case-insensitive) and is not hidden."""
    return name.lower().endswith(extensions) and not name.startswith(".")


@dataclass(frozen=True)
class SkippedLink:
    """A symbolic link the listing did not follow, and why.

    Attributes:
        link: the link, as found under the listed folder.
        reason: what it leads to (for a quarantine row or a warning).
        loop: ``True`` when following it would never end; ``False`` when its folder was listed
            through another path already.
    """

    link: Path
    reason: str
    loop: bool


@dataclass
class ImageListing:
    """What ``find_image_files`` found: image files (sorted) and the links it did not follow."""

    files: list[Path] = field(default_factory=list)
    skipped_links: list[SkippedLink] = field(default_factory=list)


def find_image_files(folder: Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> ImageListing:
    """Image files under ``folder``: recursive, hidden entries skipped, linked folders followed once.

    Entries named like images are listed whatever they are (a FIFO, a device, a dangling link):
    the file checks judge them, so that they are quarantined with a reason instead of vanishing.
    """
    listing = ImageListing()
    names = list(_walk(str(folder), extensions, listing))
    listing.files = sorted(Path(name) for name in names)
    return listing


def record_skipped_links(
    result: DiscoveryResult, links: Iterable[SkippedLink], source: Callable[[Path], str]
) -> None:
    """Quarantine the loops (``symlink_loop``) and report the repeats (``linked_folders_listed_once``).

    Args:
        result: the reader's result.
        links: what the listing did not follow.
        source: the ``source`` value of a quarantine row, from the link's path.
    """
    for link in links:
        if link.loop:
            result.quarantine.append(
                QuarantineEntry(
                    printable_path(link.link), source(link.link), QuarantineCheck.SYMLINK_LOOP, link.reason
                )
            )
        else:
            result.report.setdefault("linked_folders_listed_once", []).append(
                f"{printable_path(link.link)}: {link.reason}"
            )


def is_link_loop(path: str | Path) -> bool:
    """Whether ``path`` is a symbolic link that never resolves: links that point at each other."""
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def image_file_names(folder: Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> Iterator[str]:
    """Paths (as strings) of the image files ``find_image_files`` lists (without its skipped links)."""
    yield from _walk(str(folder), extensions, ImageListing())


def list_image_files(folder: Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden files and folders skipped)."""
    return find_image_files(folder, extensions).files


_Pending = tuple[str, tuple[int, int], frozenset[tuple[int, int]]]
"""A folder to walk: its path, ``(st_dev, st_ino)`` and those of the folders above it."""


def _walk(folder: str, extensions: tuple[str, ...], listing: ImageListing) -> Iterator[str]:
    """Image paths under ``folder``; links not followed go to ``listing.skipped_links``.

    Real folders are walked before linked ones, so a link into the tree itself is the one reported
    as a repeat. Each folder is known by ``(st_dev, st_ino)`` and walked once.
    """
    try:
        top = os.stat(folder)
    except OSError:
        return  # as os.walk: a folder that cannot be read yields nothing (callers check it exists)
    walked: dict[tuple[int, int], str] = {}
    real: list[_Pending] = [(folder, (top.st_dev, top.st_ino), frozenset())]
    linked: list[_Pending] = []
    while real or linked:
        directory, identity, ancestors = real.pop() if real else linked.pop()
        if identity in walked:
            listing.skipped_links.append(_skipped(directory, walked[identity], loop=identity in ancestors))
            continue
        walked[identity] = directory
        ancestors = ancestors | {identity}
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name, reverse=True)
        except OSError:
            continue  # as os.walk does with a folder it cannot read
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if not (entry.is_symlink() or entry.is_dir(follow_symlinks=False)):
                if is_image_name(entry.name, extensions):  # any kind of file: the file checks judge it
                    yield entry.path
                continue
            try:
                status = entry.stat()  # of the folder, or of the link's target
            except OSError as error:
                if error.errno == errno.ELOOP:  # links that point at each other: nothing to read
                    reason = "symbolic links that point at each other (a loop)"
                    listing.skipped_links.append(SkippedLink(Path(entry.path), reason, loop=True))
                elif is_image_name(entry.name, extensions):
                    yield entry.path  # a dangling link: the file checks say why it cannot be read
                continue
            if stat.S_ISDIR(status.st_mode):
                pending = (entry.path, (status.st_dev, status.st_ino), ancestors)
                (linked if entry.is_symlink() else real).append(pending)
            elif is_image_name(entry.name, extensions):
                yield entry.path


def _skipped(path: str, walked_as: str, *, loop: bool) -> SkippedLink:
    target = os.path.realpath(path)
    if loop:
        reason = f"leads to {target}, a folder that contains it: a loop, never followed"
    else:
        reason = f"leads to {target}, already listed as {walked_as}: its images are listed once"
    return SkippedLink(Path(path), reason, loop=loop)
