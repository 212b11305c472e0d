"""Bad-input cases, second round: masks (registered into ``cases.CASES`` on import, see ``cases.py``).

Masks saved in modes whose plain conversion to RGB changes their classes: a 16-bit or 1-bit mask,
or an RGBA mask with a transparent white background, all read as teeth (white) once clipped or
stripped of alpha. Mut1ny colour masks with no exact reading are quarantined; CelebAMask-HQ part
masks with their shape in alpha or in a 16-bit 0/1 image are read (the ``validation`` cases check
that the face class comes out where the part is, neither missing nor everywhere).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from facetransfer.classes import MUT1NY_14
from tests.data.bad_inputs.builders import IMAGE_SIZE, celebamask_tree, face_mask, mut1ny_tree
from tests.data.bad_inputs.cases import case
from tests.data.bad_inputs.corpus import Built, accepted, quarantined


def write_16bit_rgb_png(path: Path, rgb: np.ndarray) -> Path:
    """A PNG of 16 bits per RGB channel (Pillow reads but cannot write one); ``rgb`` is ``(H, W, 3)``."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[row].astype(">u2").tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def face_is_left_half() -> np.ndarray:
    """Where ``builders.face_mask`` paints the face."""
    return MUT1NY_14.decode_mask(face_mask()).class_ids == MUT1NY_14.id_of("face")


def part_square(on: int = 255, dtype: type = np.uint8) -> np.ndarray:
    """The corpus's part shape (as ``builders.celebamask_tree`` draws it): ``on`` in an 8 px square."""
    values = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=dtype)
    values[4:12, 4:12] = on
    return values


def _mut1ny_with_mask(root: Path, image: Image.Image) -> Built:
    """A Mut1ny tree of three pairs whose third label image is ``image``."""
    folder, source = mut1ny_tree(root, good=3)
    image.save(folder / "labels" / "p2.png")
    return Built([source], good=2)


def _celebamask_parts(root: Path, write_part: Callable[[Path], None], images: int, replaced: int) -> Built:
    """A CelebAMask-HQ tree of ``images`` images whose last ``replaced`` skin parts ``write_part`` writes."""
    folder, source = celebamask_tree(root, good=images)
    for index in range(images - replaced, images):
        write_part(folder / "CelebAMask-HQ-mask-anno" / "0" / f"{index:05d}_skin.png")
    return Built([source], good=images)


# ---------------------------------------------------------------- Mut1ny colour masks ---


@case(
    "Mut1ny 16-bit greyscale mask (white background)", "ingestion", quarantined("unreadable_mask", "16-bit")
)
def _mut1ny_16bit_grey(root: Path) -> Built:
    return _mut1ny_with_mask(root, Image.fromarray(np.where(face_is_left_half(), 0, 65535).astype(np.uint16)))


@case("Mut1ny 1-bit mask", "ingestion", quarantined("unreadable_mask", "1-bit"))
def _mut1ny_1bit(root: Path) -> Built:
    return _mut1ny_with_mask(root, Image.fromarray(face_is_left_half()).convert("1"))


@case(
    "Mut1ny RGBA mask whose background is transparent white",
    "ingestion",
    quarantined("unreadable_mask", "not fully opaque"),
)
def _mut1ny_transparent_white(root: Path) -> Built:
    rgba = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 4), dtype=np.uint8)
    rgba[...] = (255, 255, 255, 0)
    rgba[face_is_left_half()] = (128, 128, 128, 255)
    return _mut1ny_with_mask(root, Image.fromarray(rgba))


@case("Mut1ny 16-bit RGB mask", "ingestion", quarantined("unreadable_mask", "16-bit PNG"))
def _mut1ny_16bit_rgb(root: Path) -> Built:
    folder, source = mut1ny_tree(root, good=3)
    write_16bit_rgb_png(folder / "labels" / "p2.png", face_mask().astype(np.uint16) * 257)
    return Built([source], good=2)


@case("Mut1ny opaque RGBA mask with exact colours", "ingestion", accepted())
def _mut1ny_opaque_rgba(root: Path) -> Built:
    alpha = np.full((IMAGE_SIZE, IMAGE_SIZE, 1), 255, dtype=np.uint8)
    folder, source = mut1ny_tree(root, good=3)
    Image.fromarray(np.concatenate([face_mask(), alpha], axis=2)).save(folder / "labels" / "p2.png")
    return Built([source], good=3)


@case("Mut1ny palette mask with exact entries", "ingestion", accepted())
def _mut1ny_palette(root: Path) -> Built:
    image = Image.fromarray(face_is_left_half().astype(np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, 128, 128, 128] + [0, 0, 0] * 254)
    folder, source = mut1ny_tree(root, good=3)
    image.save(folder / "labels" / "p2.png")
    return Built([source], good=3)


# ----------------------------------------------------------- CelebAMask-HQ part masks ---


def _rgba_shape_in_alpha(path: Path) -> None:
    rgba = np.full((IMAGE_SIZE, IMAGE_SIZE, 4), 255, dtype=np.uint8)
    rgba[..., 3] = part_square()  # white everywhere; only alpha outlines the part
    Image.fromarray(rgba).save(path)


def _sixteen_bit_zero_one(path: Path) -> None:
    Image.fromarray(part_square(1, np.uint16)).save(path)


def _sixteen_bit_three_values(path: Path) -> None:
    values = part_square(1, np.uint16)
    values[0, 0] = 2
    Image.fromarray(values).save(path)


def _colour_and_alpha_disagree(path: Path) -> None:
    rgba = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 4), dtype=np.uint8)
    rgba[..., :3] = part_square()[..., None]
    rgba[0:8, 0:8, 3] = 255  # alpha outlines another square than the colour
    Image.fromarray(rgba).save(path)


@case("CelebAMask-HQ RGBA part masks whose shape is in alpha only", "validation", accepted())
def _celebamask_alpha_parts(root: Path) -> Built:
    return _celebamask_parts(root, _rgba_shape_in_alpha, images=8, replaced=8)


@case("CelebAMask-HQ 16-bit part masks holding 0 and 1", "validation", accepted())
def _celebamask_16bit_parts(root: Path) -> Built:
    return _celebamask_parts(root, _sixteen_bit_zero_one, images=8, replaced=8)


@case(
    "CelebAMask-HQ 16-bit part mask holding three values",
    "ingestion",
    quarantined("unreadable_mask", "00002_skin.png"),
)
def _celebamask_16bit_three_values(root: Path) -> Built:
    built = _celebamask_parts(root, _sixteen_bit_three_values, images=3, replaced=1)
    return Built(built.sources, good=2)


@case(
    "CelebAMask-HQ part mask whose colour and alpha outline different shapes",
    "ingestion",
    quarantined("unreadable_mask", "colour and alpha mark different pixels"),
)
def _celebamask_colour_alpha_disagree(root: Path) -> Built:
    built = _celebamask_parts(root, _colour_and_alpha_disagree, images=3, replaced=1)
    return Built(built.sources, good=2)
