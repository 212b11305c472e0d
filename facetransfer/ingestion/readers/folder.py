"""Reader of plain folders, the simplest way to bring images (e.g. of a new generator).

With ``role: auto`` the folder holds ``real/<source>/**`` and ``fake/<generator>/**`` (images
directly under ``real/`` or ``fake/`` belong to a source named after the configuration entry).
With ``role: real`` or ``role: fake`` every image under the folder is of that role and belongs to
one source named after the configuration entry. Accepted extensions: png, jpg, jpeg, webp.
Linked folders are followed; a link that loops is quarantined (``symlink_loop``), one to a folder
listed already is reported (``linked_folders_listed_once``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from facetransfer.ingestion.errors import SourceLayoutError
from facetransfer.ingestion.readers.paths import find_image_files, record_skipped_links, relative_posix
from facetransfer.ingestion.records import DiscoveryResult, ImageCandidate
from facetransfer.ingestion.sources import SourceConfig


def discover(config: SourceConfig, folder: Path, *, derived_dir: Path | None = None) -> DiscoveryResult:
    """List the images of a plain folder source.

    Args:
        config: the source.
        folder: the folder.
        derived_dir: unused.

    Raises:
        SourceLayoutError: ``role: auto`` but the folder has neither ``real/`` nor ``fake/``.
    """
    result = DiscoveryResult()
    if config.role in ("real", "fake"):
        label = 0 if config.role == "real" else 1
        listing = find_image_files(folder)
        for path in listing.files:
            _add_image(folder, path, config.name, label, result)
        record_skipped_links(result, listing.skipped_links, lambda _: config.name)
        return result
    roots = [(folder / name, label) for name, label in (("real", 0), ("fake", 1)) if (folder / name).is_dir()]
    if not roots:
        raise SourceLayoutError(
            f"folder source {config.name!r}: {folder} has neither real/ nor fake/; use "
            f"real/<source>/... and fake/<generator>/..., or set role: real or role: fake"
        )
    for role_folder, label in roots:
        listing = find_image_files(role_folder)
        source_of = partial(_source_of, role_folder=role_folder, default=config.name)
        for path in listing.files:
            _add_image(folder, path, source_of(path), label, result)
        record_skipped_links(result, listing.skipped_links, source_of)
    return result


def _source_of(path: Path, *, role_folder: Path, default: str) -> str:
    """The source of a path under ``real/`` or ``fake/``: its first folder there, else ``default``."""
    parts = path.relative_to(role_folder).parts
    return parts[0] if len(parts) > 1 else default


def _add_image(folder: Path, path: Path, source: str, label: int, result: DiscoveryResult) -> None:
    result.candidates.append(
        ImageCandidate(
            path=path,
            relative_path=relative_posix(path, folder),
            label=label,
            source=source,
            generator=source if label else None,
        )
    )
