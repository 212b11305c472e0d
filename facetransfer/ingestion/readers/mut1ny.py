"""Reader of the Mut1ny face/head segmentation dataset as distributed.

Layout: an index XML (``training.xml`` by default) lists image/label pairs as ``<srcimg name=...>``
followed by ``<labelimg name=...>``, either nested (``<srcimg><labelimg/></srcimg>``) or as
siblings; both occur in the wild, so pairs are taken in document order. Names are relative to the
dataset folder and use Windows separators (``images\\a.jpg``). Label images are RGB PNGs in the
palette of ``facetransfer.classes`` (decoded and checked later, in ``facetransfer.ingestion.inspection``).

An index that contradicts itself is reported, never resolved by order: an image listed with two
different label files is quarantined (``contradicting_metadata``, naming both pairs and labels); a
pair listed twice is kept once and the repeat reported (``duplicate_entry``). Pairs are numbered
in document order in these messages (``pair 3`` is the third ``<srcimg>``/``<labelimg>`` pair).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from facetransfer.ingestion.errors import SourceLayoutError
from facetransfer.ingestion.readers.paths import resolve_inside
from facetransfer.ingestion.records import DiscoveryResult, ImageCandidate, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import SourceConfig


def discover(config: SourceConfig, folder: Path, *, derived_dir: Path | None = None) -> DiscoveryResult:
    """List the image/label pairs of a Mut1ny tree.

    Args:
        config: the source (``index_file`` names the XML).
        folder: the dataset folder holding the XML.
        derived_dir: unused (Mut1ny masks are used as distributed).

    Raises:
        SourceLayoutError: the XML is missing or not well-formed.
    """
    index = folder / config.index_file
    if not index.is_file():
        raise SourceLayoutError(
            f"Mut1ny source {config.name!r}: {index} not found; a Mut1ny tree has an index XML "
            f"listing <srcimg>/<labelimg> pairs (set 'index_file' if it has another name)"
        )
    try:
        tree = ElementTree.parse(index)
    except ElementTree.ParseError as error:
        raise SourceLayoutError(
            f"Mut1ny source {config.name!r}: {index} is not well-formed XML: {error}"
        ) from None

    result = DiscoveryResult(report={"index_file": str(index), "pairs_listed": 0})
    pairs: dict[Path, list[_Pair]] = {}
    pending_image: str | None = None
    for element in tree.getroot().iter():
        tag = element.tag.lower()
        if tag not in ("srcimg", "labelimg"):
            continue
        name = element.get("name")
        if not name:
            result.quarantine.append(
                QuarantineEntry(
                    str(index), config.name, QuarantineCheck.INVALID_METADATA, f"<{tag}> without a name"
                )
            )
            continue
        if tag == "srcimg":
            if pending_image is not None:
                _missing_label(result, config, folder, pending_image)
            pending_image = name
        elif pending_image is None:
            result.quarantine.append(
                QuarantineEntry(
                    str(folder / _posix(name)),
                    config.name,
                    QuarantineCheck.MISSING_PAIR,
                    f"<labelimg name={name!r}> in {index.name} follows no <srcimg>",
                )
            )
        else:
            result.report["pairs_listed"] += 1
            pair = _resolve_pair(result, config, folder, result.report["pairs_listed"], pending_image, name)
            if pair is not None:
                pairs.setdefault(pair.image_path, []).append(pair)
            pending_image = None
    if pending_image is not None:
        _missing_label(result, config, folder, pending_image)
    for listings in pairs.values():
        _add_image(result, config, listings)
    return result


@dataclass(frozen=True)
class _Pair:
    """One ``<srcimg>``/``<labelimg>`` pair of the index, its paths resolved inside the folder."""

    number: int
    image_name: str
    label_name: str
    image_path: Path
    label_path: Path


def _pair_numbers(pairs: list[_Pair]) -> str:
    """``pairs 2 and 4`` / ``pairs 2, 4 and 7``."""
    numbers = [str(pair.number) for pair in pairs]
    return f"pairs {', '.join(numbers[:-1])} and {numbers[-1]}"


def _posix(name: str) -> str:
    return name.replace("\\", "/")


def _missing_label(result: DiscoveryResult, config: SourceConfig, folder: Path, image_name: str) -> None:
    result.quarantine.append(
        QuarantineEntry(
            str(folder / _posix(image_name)),
            config.name,
            QuarantineCheck.MISSING_PAIR,
            f"<srcimg name={image_name!r}> has no <labelimg> in {config.index_file}",
        )
    )


def _resolve_pair(
    result: DiscoveryResult, config: SourceConfig, folder: Path, number: int, image_name: str, label_name: str
) -> _Pair | None:
    """The pair with its paths resolved, or ``None`` (quarantined) when one points outside ``folder``."""
    image_path = resolve_inside(folder, _posix(image_name))
    label_path = resolve_inside(folder, _posix(label_name))
    for name, resolved in ((image_name, image_path), (label_name, label_path)):
        if resolved is None:
            result.quarantine.append(
                QuarantineEntry(
                    str(folder / _posix(name)),
                    config.name,
                    QuarantineCheck.PATH_ESCAPES_ROOT,
                    f"{config.index_file} lists {name!r}, which points outside {folder}",
                )
            )
            return None
    assert image_path is not None and label_path is not None
    return _Pair(number, image_name, label_name, image_path, label_path)


def _add_image(result: DiscoveryResult, config: SourceConfig, pairs: list[_Pair]) -> None:
    """One candidate for the pairs that list one image, or quarantine entries when they disagree."""
    first = pairs[0]
    image_path = first.image_path
    if len({pair.label_path for pair in pairs}) > 1:
        labels = ", ".join(f"pair {pair.number} '{pair.label_name}'" for pair in pairs)
        result.quarantine.append(
            QuarantineEntry(
                str(image_path),
                config.name,
                QuarantineCheck.CONTRADICTING_METADATA,
                f"{config.index_file} {_pair_numbers(pairs)} give '{first.image_name}' different label "
                f"files: {labels}; not ingested until one pair is removed",
            )
        )
        return
    if len(pairs) > 1:
        result.quarantine.append(
            QuarantineEntry(
                str(image_path),
                config.name,
                QuarantineCheck.DUPLICATE_ENTRY,
                f"{config.index_file} {_pair_numbers(pairs)} all list '{first.image_name}' with "
                f"'{first.label_name}'; kept once (remove the repeated pairs)",
            )
        )
    if not image_path.is_file():
        result.quarantine.append(
            QuarantineEntry(
                str(image_path),
                config.name,
                QuarantineCheck.MISSING_FILE,
                f"listed in {config.index_file} but missing",
            )
        )
        return
    if not first.label_path.is_file():
        result.quarantine.append(
            QuarantineEntry(
                str(image_path),
                config.name,
                QuarantineCheck.MISSING_PAIR,
                f"label image {first.label_path} listed in {config.index_file} is missing",
            )
        )
        return
    result.candidates.append(
        ImageCandidate(
            path=image_path,
            relative_path=_posix(first.image_name),
            label=0,
            source=config.name,
            mask_path=first.label_path,
            mask_encoding="color",
        )
    )
