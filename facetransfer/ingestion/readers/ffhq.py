"""Reader of FFHQ as distributed: ``images1024x1024/NNNNN/NNNNN.png`` (or ``thumbnails128x128``).

Every image is real. Files that do not follow the ``NNNNN/NNNNN.png`` naming are ignored and counted
in the report (``ignored_files``), e.g. the license or JSON files shipped beside the images.
Linked folders (e.g. ``NNNNN/`` folders on another disk) are followed; a link that loops is
quarantined (``symlink_loop``).
"""

from __future__ import annotations

import re
from pathlib import Path

from facetransfer.ingestion.errors import SourceLayoutError
from facetransfer.ingestion.readers.paths import find_image_files, record_skipped_links, relative_posix
from facetransfer.ingestion.records import DiscoveryResult, ImageCandidate
from facetransfer.ingestion.sources import SourceConfig

_FFHQ_NAME = re.compile(r"^\d{5}/\d{5}\.png$")


def discover(config: SourceConfig, folder: Path, *, derived_dir: Path | None = None) -> DiscoveryResult:
    """List the images of an FFHQ tree.

    Args:
        config: the source (``ffhq_folder`` selects full-size images or thumbnails).
        folder: the FFHQ folder holding ``images1024x1024`` / ``thumbnails128x128``.
        derived_dir: unused.

    Raises:
        SourceLayoutError: the image folder is missing.
    """
    image_folder = folder / config.ffhq_folder
    if not image_folder.is_dir():
        raise SourceLayoutError(
            f"FFHQ source {config.name!r}: folder {image_folder} not found (expected "
            f"{config.ffhq_folder}/NNNNN/NNNNN.png; set 'ffhq_folder' for the thumbnails)"
        )
    result = DiscoveryResult(report={"ignored_files": 0})
    listing = find_image_files(image_folder)
    record_skipped_links(result, listing.skipped_links, lambda _: config.name)
    for path in listing.files:
        relative = relative_posix(path, image_folder)
        if not _FFHQ_NAME.match(relative):
            result.report["ignored_files"] += 1
            continue
        result.candidates.append(
            ImageCandidate(path=path.absolute(), relative_path=relative, label=0, source=config.name)
        )
    return result
