"""Reader of CelebAMask-HQ: per-part binary masks merged into one class-id mask per image.

Layout as distributed: images ``CelebA-HQ-img/{k}.jpg`` and binary part masks
``CelebAMask-HQ-mask-anno/{k // 2000}/{k:05d}_{part}.png``. The parts are painted in the order of
the dataset's own merging script (later parts win) onto a background of 0, using
``CELEBAMASK_TO_MUT1NY14``; the result is written as a single-channel ``index`` PNG (pixel value =
class id) under ``derived_dir`` and referenced by the manifest's ``mask_path``.

Mapping choices (the 19 CelebAMask-HQ classes onto the 14 of Mut1ny):

* ``skin`` → face; ``l_``/``r_`` parts → ``left_``/``right_`` classes (CelebAMask-HQ's sides are
  taken as the same convention as Mut1ny's; swap them in the table if a dataset says otherwise).
* ``u_lip`` and ``l_lip`` → lips; ``mouth`` (the opening between the lips) → teeth, because the
  opening is where Mut1ny labels teeth; a closed-mouth dark gap therefore also counts as teeth.
* ``eye_g`` → glasses; ``hair`` → hair.
* ``hat``, ``ear_r`` (earring), ``neck_l`` (necklace), ``neck`` and ``cloth`` → background: Mut1ny
  labels the head and face only. CelebAMask-HQ has no beard class (beards are in ``skin``/``hair``).

The annotations are 512×512 while the images are 1024×1024: a merged mask is resized with
nearest-neighbour interpolation to its image's size when the aspect ratios agree, and the pair is
quarantined (``mask_size_mismatch``) when they do not. Part masks are checked from their headers
first (pixel limit, same size for every part), so a part-mask bomb is quarantined
(``image_too_large``) without being decoded.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from facetransfer.classes import ClassScheme, get_scheme
from facetransfer.data.errors import SourceConfigError, SourceLayoutError
from facetransfer.data.image_checks import (
    DEFAULT_MAX_IMAGE_PIXELS,
    pillow_bomb_guard_lifted,
    pixel_limit_problem,
    read_image_header,
)
from facetransfer.data.readers.paths import relative_posix
from facetransfer.data.records import DiscoveryResult, ImageCandidate, QuarantineCheck, QuarantineEntry
from facetransfer.data.sources import SourceConfig

IMAGE_FOLDER = "CelebA-HQ-img"
ANNOTATION_FOLDER = "CelebAMask-HQ-mask-anno"

CELEBAMASK_TO_MUT1NY14: dict[str, str] = {
    "skin": "face",
    "l_brow": "left_eyebrow",
    "r_brow": "right_eyebrow",
    "l_eye": "left_eye",
    "r_eye": "right_eye",
    "eye_g": "glasses",
    "l_ear": "left_ear",
    "r_ear": "right_ear",
    "ear_r": "background",
    "nose": "nose",
    "mouth": "teeth",
    "u_lip": "lips",
    "l_lip": "lips",
    "neck": "background",
    "neck_l": "background",
    "cloth": "background",
    "hair": "hair",
    "hat": "background",
}
"""CelebAMask-HQ part → Mut1ny-14 class, in painting order (later parts overwrite earlier ones)."""

MUT1NY14_TO_MUT1NY11 = {
    "left_eye": "eyes",
    "right_eye": "eyes",
    "left_ear": "ears",
    "right_ear": "ears",
    "left_eyebrow": "eyebrows",
    "right_eyebrow": "eyebrows",
}

_IMAGE_NAME = re.compile(r"^(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)
_PART_NAME = re.compile(r"^(\d+)_([a-z_]+)\.png$")


def part_class_ids(scheme: ClassScheme) -> dict[str, int]:
    """Class id in ``scheme`` of each CelebAMask-HQ part."""
    return {
        part: scheme.id_of(MUT1NY14_TO_MUT1NY11.get(name, name) if scheme.name == "mut1ny11" else name)
        for part, name in CELEBAMASK_TO_MUT1NY14.items()
    }


def discover(
    config: SourceConfig,
    folder: Path,
    *,
    derived_dir: Path | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> DiscoveryResult:
    """List CelebA-HQ images and write (or reuse) their merged class-id masks.

    Args:
        config: the source (``scheme`` selects the target class scheme).
        folder: the dataset folder holding ``CelebA-HQ-img`` and ``CelebAMask-HQ-mask-anno``.
        derived_dir: where merged masks are written; required.
        max_image_pixels: part masks whose header declares more pixels are not decoded.

    Raises:
        SourceConfigError: ``derived_dir`` is ``None``.
        SourceLayoutError: one of the two folders is missing.
    """
    if derived_dir is None:
        raise SourceConfigError(
            f"CelebAMask-HQ source {config.name!r} writes merged masks and needs a cache_dir for them"
        )
    image_folder, annotation_folder = folder / IMAGE_FOLDER, folder / ANNOTATION_FOLDER
    for required in (image_folder, annotation_folder):
        if not required.is_dir():
            raise SourceLayoutError(f"CelebAMask-HQ source {config.name!r}: folder {required} not found")
    parts_by_image = _index_parts(annotation_folder)
    scheme = get_scheme(config.scheme)
    class_ids = part_class_ids(scheme)
    result = DiscoveryResult(report={"masks_merged": 0, "masks_reused": 0, "masks_resized": 0})
    images = sorted(
        (int(match.group(1)), path)
        for path in image_folder.iterdir()
        if (match := _IMAGE_NAME.match(path.name)) and path.is_file()
    )
    derived_dir.mkdir(parents=True, exist_ok=True)
    for index, image_path in images:
        parts = parts_by_image.get(index)
        if not parts:
            result.quarantine.append(
                QuarantineEntry(
                    str(image_path),
                    config.name,
                    QuarantineCheck.MISSING_PAIR,
                    f"no part masks {ANNOTATION_FOLDER}/{index // 2000}/{index:05d}_*.png",
                )
            )
            continue
        mask_path = derived_dir / f"{index:05d}.png"
        problem = _ensure_merged_mask(
            image_path, parts, mask_path, class_ids, result.report, max_image_pixels
        )
        if problem is not None:
            check, reason = problem
            result.quarantine.append(QuarantineEntry(str(image_path), config.name, check, reason))
            continue
        result.candidates.append(
            ImageCandidate(
                path=image_path.absolute(),
                relative_path=relative_posix(image_path, folder),
                label=0,
                source=config.name,
                mask_path=mask_path.absolute(),
                mask_encoding="index",
            )
        )
    return result


def _index_parts(annotation_folder: Path) -> dict[int, dict[str, Path]]:
    parts: dict[int, dict[str, Path]] = defaultdict(dict)
    for subfolder in sorted(p for p in annotation_folder.iterdir() if p.is_dir()):
        for path in subfolder.iterdir():
            match = _PART_NAME.match(path.name)
            if match and match.group(2) in CELEBAMASK_TO_MUT1NY14:
                parts[int(match.group(1))][match.group(2)] = path
    return parts


def _ensure_merged_mask(
    image_path: Path,
    parts: dict[str, Path],
    mask_path: Path,
    class_ids: dict[str, int],
    report: dict,
    max_image_pixels: int,
) -> tuple[QuarantineCheck, str] | None:
    """Write the merged mask unless an up-to-date one exists; return ``(check, reason)`` on a problem."""
    from PIL import Image

    newest_input = max(path.stat().st_mtime_ns for path in [image_path, *parts.values()])
    if mask_path.is_file() and mask_path.stat().st_mtime_ns >= newest_input:
        report["masks_reused"] += 1
        return None
    try:
        image_size = (header := read_image_header(image_path)).width, header.height
    except (OSError, SyntaxError, ValueError):
        return None  # the image check quarantines it with the precise reason; no mask is needed
    ordered = [parts[part] for part in CELEBAMASK_TO_MUT1NY14 if part in parts]
    problem = _check_part_headers(ordered, max_image_pixels)
    if problem is not None:
        return problem
    merged: np.ndarray | None = None
    for part in CELEBAMASK_TO_MUT1NY14:
        if part not in parts:
            continue
        try:
            with pillow_bomb_guard_lifted(), Image.open(parts[part]) as part_image:  # size checked above
                present = np.asarray(part_image.convert("L")) > 127
        except OSError as error:
            return QuarantineCheck.UNREADABLE_MASK, f"cannot read part mask {parts[part]}: {error}"
        if merged is None:
            merged = np.zeros(present.shape, dtype=np.uint8)
        merged[present] = class_ids[part]
    if merged is None:
        return QuarantineCheck.MISSING_PAIR, "no usable part masks"
    mask = Image.fromarray(merged)  # uint8 (H, W) → mode "L"
    if mask.size != image_size:
        mask_width, mask_height = mask.size
        if mask_width * image_size[1] != mask_height * image_size[0]:
            return QuarantineCheck.MASK_SIZE_MISMATCH, (
                f"part masks are {mask_width}x{mask_height}, image is {image_size[0]}x{image_size[1]}"
            )
        mask = mask.resize(image_size, Image.Resampling.NEAREST)
        report["masks_resized"] += 1
    # Write beside the target and rename, so an interrupted run never leaves a half-written mask
    # that a later run would take as up to date.
    partial = mask_path.with_name(mask_path.name + ".partial")
    mask.save(partial, format="PNG", compress_level=6)
    partial.replace(mask_path)
    report["masks_merged"] += 1
    return None


def _check_part_headers(paths: list[Path], max_image_pixels: int) -> tuple[QuarantineCheck, str] | None:
    """From the headers alone: every part fits the pixel limit and all parts have one size."""
    first: tuple[Path, int, int] | None = None
    for path in paths:
        try:
            header = read_image_header(path)
        except (OSError, SyntaxError, ValueError) as error:
            return QuarantineCheck.UNREADABLE_MASK, f"cannot read part mask {path}: {error}"
        problem = pixel_limit_problem(header, max_image_pixels)
        if problem is not None:
            return QuarantineCheck.IMAGE_TOO_LARGE, f"part mask {path} is {problem}"
        if first is None:
            first = (path, header.width, header.height)
        elif (header.width, header.height) != first[1:]:
            return QuarantineCheck.MASK_SIZE_MISMATCH, (
                f"part mask {path} is {header.width}x{header.height}, "
                f"part mask {first[0].name} is {first[1]}x{first[2]}"
            )
    return None
