"""Source readers: each distributed format → candidates; ``read_source`` → checked manifest rows.

Every format module exposes ``discover(config, folder, *, derived_dir) -> DiscoveryResult``, which
lists images (and masks) and quarantines what the layout itself gets wrong (missing pairs, paths
escaping the folder, bad metadata). ``read_source`` then hashes and decodes every listed file
through ``facetransfer.ingestion.inspection``.

An empty source (a folder that exists but yields no image) is not an error: it gives one
quarantine row with check ``empty_source`` and ``report["empty"] = True``, so a pipeline reports
it next to every other data problem. A source whose folder does not exist is a configuration
error and raises ``SourceNotFoundError`` naming the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from facetransfer.classes import get_scheme
from facetransfer.ingestion.errors import SourceNotFoundError
from facetransfer.ingestion.inspection import Inspector, inspect_candidates
from facetransfer.ingestion.records import (
    DiscoveryResult,
    ImageCandidate,
    QuarantineCheck,
    QuarantineEntry,
    ReaderResult,
)
from facetransfer.ingestion.sources import SourceConfig

Discover = Callable[..., DiscoveryResult]


def _discover_function(source_format: str) -> Discover:
    from facetransfer.ingestion.readers import artifact, celebamask_hq, ffhq, folder, mut1ny

    readers: dict[str, Discover] = {
        "mut1ny": mut1ny.discover,
        "celebamask_hq": celebamask_hq.discover,
        "artifact": artifact.discover,
        "ffhq": ffhq.discover,
        "folder": folder.discover,
    }
    return readers[source_format]


def read_source(
    config: SourceConfig,
    root: str | Path,
    *,
    inspector: Inspector | None = None,
    derived_dir: str | Path | None = None,
) -> ReaderResult:
    """Read one source into manifest rows (without splits).

    Args:
        config: the source declaration.
        root: folder that relative source paths are resolved against (normally the repo root).
        inspector: hashes/decodes files through a cache; a fresh in-memory one when ``None``.
        derived_dir: where readers that derive files (CelebAMask-HQ merged masks) write them.

    Returns:
        Rows, quarantine entries and a report (format-specific counts, target mismatches,
        tolerated unknown colours, identity matches, ``empty``).

    Raises:
        SourceNotFoundError: the source folder does not exist.
        SourceLayoutError: the folder lacks what its format requires (e.g. ``training.xml``).
    """
    folder = config.resolve_path(root)
    if not folder.is_dir():
        raise SourceNotFoundError(f"source {config.name!r} ({config.format}): folder {folder} does not exist")
    inspector = inspector if inspector is not None else Inspector()
    # CelebAMask-HQ derives merged masks keyed by its part files' content: it reads facts through
    # the same cache as the rest of the ingestion.
    extra = {"inspector": inspector} if config.format == "celebamask_hq" else {}
    discovery = _discover_function(config.format)(
        config, folder, derived_dir=Path(derived_dir) if derived_dir is not None else None, **extra
    )
    identities, identity_report = _identities(config, discovery.candidates)
    rows, quarantine, inspection_report = inspect_candidates(
        discovery.candidates,
        dataset=config.name,
        inspector=inspector,
        scheme=get_scheme(config.scheme) if config.is_segmentation else None,
        unknown_color_tolerance=config.unknown_color_tolerance,
        identities=identities,
    )
    report = {
        "format": config.format,
        "path": str(folder),
        "candidates": len(discovery.candidates),
        "rows": len(rows),
        **discovery.report,
        **inspection_report,
        **identity_report,
        "empty": not discovery.candidates,
    }
    quarantine = [*discovery.quarantine, *quarantine]
    if not discovery.candidates:
        quarantine.append(
            QuarantineEntry(
                str(folder),
                config.name,
                QuarantineCheck.EMPTY_SOURCE,
                f"no images found for {config.format} source",
            )
        )
    return ReaderResult(rows=rows, quarantine=quarantine, report=report)


def _identities(
    config: SourceConfig, candidates: list[ImageCandidate]
) -> tuple[dict[Path, str | None], dict[str, int]]:
    if config.identity_pattern is None:
        return {}, {}
    pattern = re.compile(config.identity_pattern)
    identities: dict[Path, str | None] = {}
    unmatched = 0
    for candidate in candidates:
        match = pattern.search(candidate.relative_path)
        if match is None:
            unmatched += 1
            identities[candidate.path] = None
            continue
        value = match.groupdict().get("identity") or (match.group(1) if pattern.groups else match.group(0))
        namespace = config.identity_namespace or candidate.source
        identities[candidate.path] = f"{namespace}:{value}"
    return identities, {"identity_unmatched": unmatched}
