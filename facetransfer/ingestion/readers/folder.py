"""Reader of plain folders, the simplest way to bring images (e.g. of a new generator).

With ``role: auto`` the folder holds ``real/<source>/**`` and ``fake/<generator>/**`` (images
directly under ``real/`` or ``fake/`` belong to a source named after the configuration entry).
With ``role: real`` or ``role: fake`` every image under the folder is of that role and belongs to
one source named after the configuration entry. Accepted extensions: png, jpg, jpeg, webp.
"""

from __future__ import annotations

from pathlib import Path

from facetransfer.ingestion.errors import SourceLayoutError
from facetransfer.ingestion.readers.paths import list_image_files, relative_posix
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
        for path in list_image_files(folder):
            _add_image(folder, path, config.name, label, result)
        return result
    roots = [(folder / name, label) for name, label in (("real", 0), ("fake", 1)) if (folder / name).is_dir()]
    if not roots:
        raise SourceLayoutError(
            f"folder source {config.name!r}: {folder} has neither real/ nor fake/; use "
            f"real/<source>/... and fake/<generator>/..., or set role: real or role: fake"
        )
    for role_folder, label in roots:
        for path in list_image_files(role_folder):
            parts = path.relative_to(role_folder).parts
            source = parts[0] if len(parts) > 1 else config.name
            _add_image(folder, path, source, label, result)
    return result


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
