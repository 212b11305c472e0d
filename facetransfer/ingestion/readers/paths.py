"""Path helpers shared by the readers: containment checks and image listing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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


def image_file_names(folder: Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> Iterator[str]:
    """Paths (as strings) of the image files under ``folder``: recursive, hidden entries skipped."""
    for directory, subdirectories, files in os.walk(folder):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for name in files:
            if is_image_name(name, extensions):
                yield os.path.join(directory, name)


def list_image_files(folder: Path, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden files and folders skipped)."""
    return sorted(Path(name) for name in image_file_names(folder, extensions))
