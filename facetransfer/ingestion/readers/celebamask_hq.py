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
nearest-neighbour interpolation (at pixel centres) to its image's size when the aspect ratios
agree, and the pair is quarantined (``mask_size_mismatch``) when they do not. Merged masks are
named by a content key (see ``discover``), never reused on file timestamps. Part masks go through
the ingestion's inspector, which checks their headers first (pixel limit), so a part-mask bomb is
quarantined (``image_too_large``) without being decoded.

Part masks are binary PNGs, usually ``L`` 0/255 and sometimes ``RGB`` or ``1``; other tools save
them as 16-bit 0/1 images or with the shape in alpha only. ``part_presence`` defines, per mode,
which pixels are "on"; a part with no such clear reading quarantines its image
(``unreadable_mask``, part and problem named), so no part is dropped or filled by accident.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facetransfer.classes import (
    ClassScheme,
    MaskEncodingError,
    get_scheme,
    png_bit_depth,
    sixteen_bit_problem,
)
from facetransfer.imaging.checks import lift_pillow_pixel_limit
from facetransfer.imaging.decoding import SIXTEEN_BIT_GRAY_MODES, read_image_file
from facetransfer.imaging.resizing import resize_mask
from facetransfer.ingestion.errors import SourceConfigError, SourceLayoutError
from facetransfer.ingestion.inspection import Inspector
from facetransfer.ingestion.readers.paths import relative_posix
from facetransfer.ingestion.records import DiscoveryResult, ImageCandidate, QuarantineCheck, QuarantineEntry
from facetransfer.ingestion.sources import SourceConfig

if TYPE_CHECKING:
    from PIL import Image

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

MERGE_VERSION = "merge-2"
"""Changes whenever the merging itself changes (part of every merged mask's key)."""

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
    inspector: Inspector | None = None,
) -> DiscoveryResult:
    """List CelebA-HQ images and write (or reuse) their merged class-id masks.

    A merged mask is named after a key of everything that shapes it: the class scheme, the
    part-to-class table, each part file's content (sha256, read through the inspector's cache)
    and the image size. Switching ``scheme`` (``mut1ny14`` -> ``mut1ny11``), editing the table or
    replacing a part file therefore writes a new mask instead of reusing a stale one. Part files
    that are not readable images (corrupt, truncated, or declaring more pixels than the
    decompression-bomb limit) quarantine their image with the part named.

    Args:
        config: the source (``scheme`` selects the target class scheme).
        folder: the dataset folder holding ``CelebA-HQ-img`` and ``CelebAMask-HQ-mask-anno``.
        derived_dir: where merged masks are written; required.
        inspector: reads file facts (hashes, sizes) through the ingestion's cache.

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
    inspector = inspector if inspector is not None else Inspector()
    parts_by_image = _index_parts(annotation_folder)
    scheme = get_scheme(config.scheme)
    merger = _MaskMerger(scheme, inspector, derived_dir)
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
        outcome = merger.merged_mask(index, image_path, parts, result.report)
        if isinstance(outcome, tuple):
            check, reason = outcome
            result.quarantine.append(QuarantineEntry(str(image_path), config.name, check, reason))
            continue
        result.candidates.append(
            ImageCandidate(
                path=image_path.absolute(),
                relative_path=relative_posix(image_path, folder),
                label=0,
                source=config.name,
                mask_path=outcome.absolute(),
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


Problem = tuple[QuarantineCheck, str]


class _MaskMerger:
    """Merges the part masks of one image into a class-id PNG named by its content key."""

    def __init__(self, scheme: ClassScheme, inspector: Inspector, derived_dir: Path) -> None:
        self.class_ids = part_class_ids(scheme)
        self.inspector = inspector
        self.derived_dir = derived_dir
        table = json.dumps(sorted(self.class_ids.items()))
        self.base_key = f"{MERGE_VERSION}|{scheme.name}|{table}"

    def merged_mask(
        self, index: int, image_path: Path, parts: dict[str, Path], report: dict
    ) -> Path | Problem:
        """The merged mask of image ``index`` (written unless one with the same key exists), or a problem."""
        image = self.inspector.image_facts(image_path)
        if image.check is not None:
            return image.check, image.problem or "unreadable image"  # no mask is needed for it
        digests = []
        for part in CELEBAMASK_TO_MUT1NY14:
            if part in parts:
                facts = self.inspector.image_facts(parts[part])  # header checked before decoding
                if facts.check is QuarantineCheck.IMAGE_TOO_LARGE:
                    return facts.check, f"part mask {parts[part]} is {facts.problem}"
                if facts.check is not None:
                    return QuarantineCheck.UNREADABLE_MASK, f"part mask {parts[part]}: {facts.problem}"
                digests.append(f"{part}={facts.sha256}")
        key = hashlib.sha256(
            "|".join([self.base_key, f"{image.width}x{image.height}", *digests]).encode()
        ).hexdigest()[:20]
        mask_path = self.derived_dir / f"{index:05d}-{key}.png"
        if mask_path.is_file():
            report["masks_reused"] += 1
            return mask_path
        problem = self._write(parts, (image.width, image.height), mask_path, report)
        if problem is not None:
            return problem
        for stale in self.derived_dir.glob(f"{index:05d}-*.png"):
            if stale != mask_path:
                stale.unlink(missing_ok=True)
        return mask_path

    def _write(
        self, parts: dict[str, Path], image_size: tuple[int, int], mask_path: Path, report: dict
    ) -> Problem | None:
        from PIL import Image

        merged: np.ndarray | None = None
        lift_pillow_pixel_limit()  # every part's header was checked in ``merged_mask``
        for part in CELEBAMASK_TO_MUT1NY14:
            if part not in parts:
                continue
            try:
                data = read_image_file(parts[part], max_bytes=self.inspector.max_file_bytes)
                with Image.open(io.BytesIO(data)) as part_image:
                    part_image.load()
                    present = part_presence(part_image, png_bit_depth(data))
            except MaskEncodingError as error:
                return QuarantineCheck.UNREADABLE_MASK, f"part mask {parts[part]}: {error}"
            except OSError as error:
                return QuarantineCheck.UNREADABLE_MASK, f"cannot read part mask {parts[part]}: {error}"
            if merged is None:
                merged = np.zeros(present.shape, dtype=np.uint8)
            elif present.shape != merged.shape:
                return QuarantineCheck.MASK_SIZE_MISMATCH, (
                    f"part mask {parts[part]} is {present.shape[1]}x{present.shape[0]}, "
                    f"earlier parts are {merged.shape[1]}x{merged.shape[0]}"
                )
            merged[present] = self.class_ids[part]
        if merged is None:
            return QuarantineCheck.MISSING_PAIR, "no usable part masks"
        height, width = merged.shape
        if (width, height) != image_size:
            if width * image_size[1] != height * image_size[0]:
                return QuarantineCheck.MASK_SIZE_MISMATCH, (
                    f"part masks are {width}x{height}, image is {image_size[0]}x{image_size[1]}"
                )
            merged = resize_mask(merged, image_size)
            report["masks_resized"] += 1
        # Write beside the target and rename, so an interrupted run never leaves a half-written mask.
        partial = mask_path.with_name(mask_path.name + ".partial")
        Image.fromarray(merged).save(partial, format="PNG", compress_level=6)
        partial.replace(mask_path)
        report["masks_merged"] += 1
        return None


PART_MODES = ("1", "L", "P", "RGB", "LA", "PA", "RGBA")
"""8-bit modes a part mask is read in (besides 16-bit greyscale)."""


def part_presence(image: Image.Image, bit_depth: int | None = None) -> np.ndarray:
    """Where a part mask marks its part ("on"), read by one documented rule per mode.

    Each mode gives one *level* per pixel:

    * ``1``: 0, or 255 where set; ``L``: the grey value; ``P`` and ``RGB``: the colour's
      luminance (ITU-R 601, Pillow's ``L`` conversion, which keeps a grey's own value);
    * 16-bit greyscale (``I;16*``, ``I``): the value as stored, 0..65535;
    * ``LA``, ``PA``, ``RGBA`` (and a ``tRNS`` entry or colour key in use): alpha that is the
      same everywhere carries no shape and the colour's level is read; alpha that varies over a
      colour that does not (a white part on transparent white) is the level; when both vary,
      they must mark the same pixels.

    A level reads as follows: with at most one value besides 0, the part is where that value is
    (0/1, 0/255 and 0/65535 alike; all 0 is an empty part); with more values (anti-aliased edges)
    in an 8-bit mode, the part is where the level is 128 or more, provided some pixel reaches 128.

    Args:
        image: the loaded part mask.
        bit_depth: bits per sample of the PNG's header (``classes.png_bit_depth``), if known.

    Returns:
        ``(H, W)`` bool array.

    Raises:
        MaskEncodingError: a 16-bit PNG read as 8 bits (Pillow keeps the high byte of RGB,
            RGBA and grey+alpha samples), a 16-bit part holding 0 and more than one other value,
            an 8-bit part with several levels none of which reaches 128, colour and alpha marking
            different pixels, or a mode with no level (``F``, ``CMYK``, ...).
    """
    from PIL import Image

    problem = sixteen_bit_problem(image, bit_depth)
    if problem is not None:
        raise MaskEncodingError(problem)
    if image.mode in SIXTEEN_BIT_GRAY_MODES:
        return _level_presence(np.asarray(image).astype(np.int64), image.mode, full_scale=65535)
    if image.mode not in PART_MODES:
        raise MaskEncodingError(
            f"mode {image.mode!r} has no reading as a binary part mask "
            f"(accepted: {', '.join(PART_MODES)}, 16-bit greyscale)"
        )
    rgba = np.asarray(image.convert("RGBA"))
    colour, alpha = np.ascontiguousarray(rgba[..., :3]), rgba[..., 3]
    colour_level = np.asarray(Image.fromarray(colour).convert("L")).astype(np.int64)
    if (alpha == alpha.flat[0]).all():
        return _level_presence(colour_level, image.mode, full_scale=255)
    from_alpha = _level_presence(alpha.astype(np.int64), f"{image.mode} alpha", full_scale=255)
    if (colour == colour[0, 0]).all():
        return from_alpha
    differ = from_alpha != _level_presence(colour_level, image.mode, full_scale=255)
    if differ.any():
        row, col = (int(v) for v in np.argwhere(differ)[0])
        raise MaskEncodingError(
            f"mode {image.mode!r}: colour and alpha mark different pixels ({int(differ.sum())}, first "
            f"at row {row}, column {col}), so which of them outlines the part is unclear"
        )
    return from_alpha


def _level_presence(level: np.ndarray, mode: str, *, full_scale: int) -> np.ndarray:
    """The "on" pixels of one level array (rules in ``part_presence``)."""
    if level.size and (level.min() < 0 or level.max() > full_scale):
        raise MaskEncodingError(f"mode {mode!r}: values {level.min()}..{level.max()} outside 0..{full_scale}")
    values = np.flatnonzero(np.bincount(level.ravel(), minlength=1))
    others = values[values != 0]
    if len(others) <= 1:
        return level == others[0] if len(others) else np.zeros(level.shape, dtype=bool)
    shown = ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
    if full_scale != 255:
        raise MaskEncodingError(
            f"mode {mode!r}: a 16-bit part mask holds 0 and one other value, this one holds "
            f"{len(values)} values ({shown}), so which of them are the part is unclear"
        )
    if values[-1] < 128:
        raise MaskEncodingError(
            f"mode {mode!r}: levels {shown} are all below 128, with more than one besides 0; "
            "a binary part mask holds 0 and one other value, or reaches 128 where the part is"
        )
    return level >= 128
