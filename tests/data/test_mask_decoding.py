"""Masks are decoded as carefully as images: exact values only, nothing clipped, no alpha dropped.

Each mask is built with Pillow in the mode a user's tool might save it in. A Mut1ny colour mask
whose mode or bit depth has no exact reading as label colours (16-bit, 1-bit, alpha that is not
fully opaque) is quarantined with the mode and the problem named, never decoded into the class
that happens to be coloured white (teeth). CelebAMask-HQ part masks are read by the documented
rule of their mode (``facetransfer.ingestion.readers.celebamask_hq.part_presence``) or quarantined.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tree_builders import random_image, write_jpeg, write_png

from facetransfer.classes import MUT1NY_14, MaskEncodingError, load_class_mask
from facetransfer.imaging.checks import inspect_mask_file
from facetransfer.ingestion.readers import read_source
from facetransfer.ingestion.records import QuarantineCheck
from facetransfer.ingestion.sources import SourceConfig
from tests.data.bad_inputs.cases_masks import write_16bit_rgb_png

SIZE = 16
FACE = MUT1NY_14.id_of("face")


def face_ids() -> np.ndarray:
    """Class ids: face in the left half, background in the right half."""
    ids = np.zeros((SIZE, SIZE), dtype=np.uint8)
    ids[:, : SIZE // 2] = FACE
    return ids


def square(on: int, off: int = 0, dtype: type = np.uint8) -> np.ndarray:
    """A part shape: ``on`` in rows/columns 4..11, ``off`` elsewhere."""
    values = np.full((SIZE, SIZE), off, dtype=dtype)
    values[4:12, 4:12] = on
    return values


# ------------------------------------------------------------------ Mut1ny colour masks ---


def sixteen_bit_grey(path: Path) -> None:
    Image.fromarray(MUT1NY_14.encode_mask(face_ids())[..., 0].astype(np.uint16) * 257).save(path)


def sixteen_bit_grey_white_background(path: Path) -> None:
    Image.fromarray(np.where(face_ids() == FACE, 0, 65535).astype(np.uint16)).save(path)


def one_bit(path: Path) -> None:
    Image.fromarray(face_ids() == FACE).convert("1").save(path)


def rgba_transparent_white_background(path: Path) -> None:
    rgba = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
    rgba[...] = (255, 255, 255, 0)  # transparent white: teeth's colour under no opacity at all
    rgba[:, : SIZE // 2] = (128, 128, 128, 255)
    Image.fromarray(rgba).save(path)


def la_half_transparent(path: Path) -> None:
    la = np.stack([np.full((SIZE, SIZE), 128, np.uint8), np.full((SIZE, SIZE), 255, np.uint8)], axis=2)
    la[0, 3, 1] = 254
    Image.fromarray(la, mode="LA").save(path)


def palette_with_transparent_entry(path: Path) -> None:
    image = Image.fromarray(face_ids(), mode="L").convert("P")
    image.putpalette([0, 0, 0, 128, 128, 128] + [0, 0, 0] * 254)
    image.save(path, transparency=0)  # entry 0 (background) is transparent


def sixteen_bit_rgb(path: Path) -> None:
    write_16bit_rgb_png(path, MUT1NY_14.encode_mask(face_ids()).astype(np.uint16) * 257)


REFUSED_COLOUR_MASKS = {
    "16-bit greyscale, exact x257 values": (sixteen_bit_grey, "I;16"),
    "16-bit greyscale, white background": (sixteen_bit_grey_white_background, "16-bit"),
    "1-bit": (one_bit, "1-bit"),
    "RGBA, transparent white background": (rgba_transparent_white_background, "not fully opaque"),
    "LA, one pixel at alpha 254": (la_half_transparent, "row 0, column 3"),
    "palette with a transparent entry in use": (palette_with_transparent_entry, "transparency"),
    "16-bit RGB": (sixteen_bit_rgb, "16-bit"),
}


def mut1ny_tree(root: Path, bad_mask: Callable[[Path], object]) -> SourceConfig:
    """A Mut1ny tree: pair p0 with an exact RGB mask, pair p1 with the mask ``bad_mask`` writes."""
    entries = []
    for index in (0, 1):
        write_png(root / "images" / f"p{index}.png", random_image(index, SIZE))
        entries.append(f'<srcimg name="images\\p{index}.png"/><labelimg name="labels\\p{index}.png"/>')
    write_png(root / "labels" / "p0.png", MUT1NY_14.encode_mask(face_ids()))
    bad_mask(root / "labels" / "p1.png")
    (root / "training.xml").write_text("<dataset>" + "".join(entries) + "</dataset>", encoding="utf-8")
    return SourceConfig(name="m", format="mut1ny", path=str(root))


@pytest.mark.parametrize("name", list(REFUSED_COLOUR_MASKS))
def test_colour_mask_without_exact_reading_is_quarantined_naming_mode_and_problem(
    tmp_path: Path, name: str
) -> None:
    write_mask, problem = REFUSED_COLOUR_MASKS[name]
    result = read_source(mut1ny_tree(tmp_path, write_mask), "/")
    assert [Path(row.path).name for row in result.rows] == ["p0.png"]
    assert [(entry.check, Path(entry.path).name) for entry in result.quarantine] == [
        (QuarantineCheck.UNREADABLE_MASK, "p1.png")
    ]
    assert problem in result.quarantine[0].reason and "p1.png" in result.quarantine[0].reason
    with pytest.raises(MaskEncodingError, match="mode"):
        load_class_mask(tmp_path / "labels" / "p1.png", encoding="color", scheme=MUT1NY_14)


def test_a_refused_mask_never_decodes_into_teeth(tmp_path: Path) -> None:
    rgba_transparent_white_background(tmp_path / "mask.png")
    facts = inspect_mask_file(tmp_path / "mask.png", encoding="color", scheme=MUT1NY_14)
    assert facts.check is QuarantineCheck.UNREADABLE_MASK
    assert "RGBA" in (facts.problem or "") and "alpha" in (facts.problem or "")


def opaque_rgba(path: Path) -> None:
    rgb = MUT1NY_14.encode_mask(face_ids())
    Image.fromarray(np.dstack([rgb, np.full((SIZE, SIZE), 255, np.uint8)])).save(path)


def exact_palette(path: Path) -> None:
    image = Image.fromarray(face_ids(), mode="L").convert("P")
    image.putpalette([0, 0, 0, 128, 128, 128] + [0, 0, 0] * 254)
    image.save(path)


def palette_with_unused_transparent_entry(path: Path) -> None:
    image = Image.fromarray(face_ids(), mode="L").convert("P")
    image.putpalette([0, 0, 0, 128, 128, 128, 9, 9, 9] + [0, 0, 0] * 253)
    image.save(path, transparency=2)  # no pixel uses entry 2: every pixel is opaque


def grey_levels(path: Path) -> None:
    Image.fromarray(MUT1NY_14.encode_mask(face_ids())[..., 0], mode="L").save(path)


@pytest.mark.parametrize(
    "write_mask", [opaque_rgba, exact_palette, palette_with_unused_transparent_entry, grey_levels]
)
def test_colour_mask_with_exact_values_is_accepted_with_its_classes(
    tmp_path: Path, write_mask: Callable[[Path], object]
) -> None:
    result = read_source(mut1ny_tree(tmp_path, write_mask), "/")
    assert result.quarantine == [] and len(result.rows) == 2
    decoded = load_class_mask(tmp_path / "labels" / "p1.png", encoding="color", scheme=MUT1NY_14)
    assert decoded.unknown_pixels == 0 and np.array_equal(decoded.class_ids, face_ids())


# ------------------------------------------------------------------------- index masks ---


def test_sixteen_bit_index_mask_reads_class_ids_exactly(tmp_path: Path) -> None:
    Image.fromarray(face_ids().astype(np.uint16)).save(tmp_path / "ids.png")
    assert Image.open(tmp_path / "ids.png").mode == "I;16"
    decoded = load_class_mask(tmp_path / "ids.png", encoding="index", scheme=MUT1NY_14)
    assert np.array_equal(decoded.class_ids, face_ids()) and decoded.unknown_pixels == 0


def test_sixteen_bit_index_value_above_255_is_refused_not_clipped(tmp_path: Path) -> None:
    ids = face_ids().astype(np.uint16)
    ids[2, 9] = FACE * 257  # a scaled id: clipping would make it 255 (unknown) or wrap it to another class
    Image.fromarray(ids).save(tmp_path / "ids.png")
    with pytest.raises(MaskEncodingError, match=r"I;16.*257.*row 2, column 9"):
        load_class_mask(tmp_path / "ids.png", encoding="index", scheme=MUT1NY_14)
    facts = inspect_mask_file(tmp_path / "ids.png", encoding="index", scheme=MUT1NY_14)
    assert facts.check is QuarantineCheck.UNREADABLE_MASK and "257" in (facts.problem or "")


def test_index_value_outside_the_scheme_is_counted_not_kept(tmp_path: Path) -> None:
    ids = face_ids()
    ids[1, 1] = 20
    Image.fromarray(ids).save(tmp_path / "ids.png")
    decoded = load_class_mask(tmp_path / "ids.png", encoding="index", scheme=MUT1NY_14)
    assert decoded.unknown_pixels == 1 and decoded.first_unknown == (1, 1, (20, 20, 20))


@pytest.mark.parametrize(
    ("mode", "problem"),
    [("1", "1-bit"), ("RGB", "single-channel"), ("LA", "not fully opaque")],
)
def test_index_mask_in_a_mode_without_class_ids_is_refused(tmp_path: Path, mode: str, problem: str) -> None:
    image = Image.fromarray(face_ids()).convert(mode)
    if mode == "LA":
        image.putalpha(Image.fromarray(np.where(face_ids() == FACE, 255, 0).astype(np.uint8)))
    image.save(tmp_path / "ids.png")
    with pytest.raises(MaskEncodingError, match=problem):
        load_class_mask(tmp_path / "ids.png", encoding="index", scheme=MUT1NY_14)


# ----------------------------------------------------------------- CelebAMask-HQ parts ---


def celebamask_tree(root: Path, write_part: Callable[[Path], object]) -> SourceConfig:
    """Image 0 (32 px) whose ``skin`` part (16 px) ``write_part`` writes; image 1 with a plain L part."""
    parts = root / "CelebAMask-HQ-mask-anno" / "0"
    parts.mkdir(parents=True)
    for index in (0, 1):
        write_jpeg(root / "CelebA-HQ-img" / f"{index}.jpg", random_image(index, 2 * SIZE))
    write_part(parts / "00000_skin.png")
    write_png(parts / "00001_skin.png", square(255))
    return SourceConfig(name="celeba", format="celebamask_hq", path=str(root))


def l_part(path: Path) -> None:
    write_png(path, square(255))


def rgba_shape_in_alpha(path: Path) -> None:
    rgba = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # white everywhere: only alpha says where the part is
    rgba[..., 3] = square(255)
    Image.fromarray(rgba).save(path)


def la_shape_in_alpha(path: Path) -> None:
    Image.fromarray(np.dstack([np.full((SIZE, SIZE), 255, np.uint8), square(255)]), mode="LA").save(path)


def rgba_shape_in_colour_and_alpha(path: Path) -> None:
    rgba = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
    rgba[..., :3] = square(255)[..., None]
    rgba[..., 3] = square(255)  # transparent black around an opaque white part: both agree
    Image.fromarray(rgba).save(path)


def rgba_opaque(path: Path) -> None:
    Image.fromarray(
        np.dstack([np.repeat(square(255)[..., None], 3, axis=2), np.full((SIZE, SIZE), 255, np.uint8)])
    ).save(path)


def sixteen_bit_zero_one(path: Path) -> None:
    Image.fromarray(square(1, dtype=np.uint16)).save(path)


def sixteen_bit_zero_full(path: Path) -> None:
    Image.fromarray(square(65535, dtype=np.uint16)).save(path)


def eight_bit_zero_one(path: Path) -> None:
    Image.fromarray(square(1)).save(path)


def one_bit_part(path: Path) -> None:
    Image.fromarray(square(255)).convert("1").save(path)


def rgb_part(path: Path) -> None:
    Image.fromarray(np.repeat(square(255)[..., None], 3, axis=2)).save(path)


def palette_part(path: Path) -> None:
    Image.fromarray(square(255)).convert("P").save(path)


def anti_aliased_part(path: Path) -> None:
    values = square(255)
    values[4, 4:12] = 200  # an anti-aliased edge: 200 counts as on, 60 as off (threshold 128)
    values[3, 4:12] = 60
    Image.fromarray(values).save(path)


READ_PARTS = {
    "L 0/255": l_part,
    "RGBA, shape in alpha only (transparent white)": rgba_shape_in_alpha,
    "LA, shape in alpha only": la_shape_in_alpha,
    "RGBA, shape in colour and alpha alike": rgba_shape_in_colour_and_alpha,
    "RGBA, opaque": rgba_opaque,
    "I;16 0/1": sixteen_bit_zero_one,
    "I;16 0/65535": sixteen_bit_zero_full,
    "L 0/1": eight_bit_zero_one,
    "1-bit": one_bit_part,
    "RGB 0/255": rgb_part,
    "P 0/255": palette_part,
    "L anti-aliased edge": anti_aliased_part,
}


@pytest.mark.parametrize("name", list(READ_PARTS))
def test_celebamask_part_is_read_by_its_mode(tmp_path: Path, name: str) -> None:
    result = read_source(celebamask_tree(tmp_path, READ_PARTS[name]), "/", derived_dir=tmp_path / "derived")
    assert result.quarantine == [] and len(result.rows) == 2
    ids = load_class_mask(result.rows[0].mask_path, encoding="index", scheme=MUT1NY_14).class_ids
    expected = np.zeros((2 * SIZE, 2 * SIZE), dtype=np.uint8)
    expected[8:24, 8:24] = FACE  # the 8 px square, doubled to the image's size
    assert np.array_equal(ids, expected), f"{int((ids == FACE).sum())} face pixels"


def sixteen_bit_three_values(path: Path) -> None:
    values = square(1, dtype=np.uint16)
    values[0, 0] = 2
    Image.fromarray(values).save(path)


def colour_and_alpha_disagree(path: Path) -> None:
    rgba = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[4:12, 4:12, :3] = 0  # black part on white colour, but alpha marks another square
    rgba[..., 3] = 0
    rgba[0:8, 0:8, 3] = 255
    Image.fromarray(rgba).save(path)


def faint_levels(path: Path) -> None:
    values = square(3)
    values[0, 0] = 1  # 0, 1 and 3: no level reaches 128 and no single "on" value either
    Image.fromarray(values).save(path)


def sixteen_bit_rgb_part(path: Path) -> None:
    write_16bit_rgb_png(path, np.repeat(square(1, dtype=np.uint16)[..., None], 3, axis=2))


QUARANTINED_PARTS = {
    "I;16 with three values": (sixteen_bit_three_values, "values"),
    "RGBA whose colour and alpha mark different pixels": (colour_and_alpha_disagree, "alpha"),
    "L whose levels never reach 128": (faint_levels, "128"),
    "16-bit RGB (Pillow keeps only the high byte)": (sixteen_bit_rgb_part, "16-bit"),
}


@pytest.mark.parametrize("name", list(QUARANTINED_PARTS))
def test_celebamask_part_without_a_clear_shape_is_quarantined_naming_it(tmp_path: Path, name: str) -> None:
    write_part, problem = QUARANTINED_PARTS[name]
    result = read_source(celebamask_tree(tmp_path, write_part), "/", derived_dir=tmp_path / "derived")
    assert len(result.rows) == 1 and Path(result.rows[0].path).name == "1.jpg"
    assert [(entry.check, Path(entry.path).name) for entry in result.quarantine] == [
        (QuarantineCheck.UNREADABLE_MASK, "0.jpg")
    ]
    reason = result.quarantine[0].reason
    assert "00000_skin.png" in reason and problem in reason, reason
