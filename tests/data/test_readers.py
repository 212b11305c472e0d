"""Each reader on small trees in its real distributed layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tree_builders import (
    make_artifact_folder,
    random_image,
    write_corrupt_png,
    write_huge_png,
    write_jpeg,
    write_metadata,
    write_png,
)

from facetransfer.classes import MUT1NY_11, MUT1NY_14, UNKNOWN_CLASS, ClassScheme, get_scheme, load_class_mask
from facetransfer.ingestion.errors import SourceLayoutError, SourceNotFoundError
from facetransfer.ingestion.readers import read_source
from facetransfer.ingestion.records import QuarantineCheck
from facetransfer.ingestion.sources import SourceConfig


def _class_ids(seed: int, size: int = 16, num_classes: int = 14) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, num_classes, (size, size), dtype=np.uint8)


def make_mut1ny_tree(
    root: Path, count: int, *, scheme: ClassScheme = MUT1NY_14, nested: bool = False
) -> list[np.ndarray]:
    """A Mut1ny tree with ``count`` pairs; returns the class ids of each label image."""
    entries, masks = [], []
    for index in range(count):
        ids = _class_ids(index, num_classes=scheme.num_classes)
        write_png(root / "images" / f"p{index}.png", random_image(index))
        write_png(root / "labels" / f"p{index}.png", scheme.encode_mask(ids))
        image, label = f'<srcimg name="images\\p{index}.png"', f'<labelimg name="labels\\p{index}.png"/>'
        entries.append(f"{image}>{label}</srcimg>" if nested else f"{image}/>{label}")
        masks.append(ids)
    (root / "training.xml").write_text("<dataset>" + "".join(entries) + "</dataset>", encoding="utf-8")
    return masks


@pytest.mark.parametrize("nested", [False, True])
def test_mut1ny_pairs_with_windows_paths_in_both_xml_layouts(tmp_path: Path, nested: bool) -> None:
    masks = make_mut1ny_tree(tmp_path, 3, nested=nested)
    result = read_source(SourceConfig(name="m", format="mut1ny", path=str(tmp_path)), "/")
    assert [row.mask_encoding for row in result.rows] == ["color"] * 3
    assert not result.quarantine
    decoded = load_class_mask(result.rows[1].mask_path, encoding="color", scheme=MUT1NY_14)
    assert np.array_equal(decoded.class_ids, masks[1])
    assert all(
        row.label == 0 and row.generator is None and row.mask_scheme == "mut1ny14" for row in result.rows
    )


def test_mut1ny_mask_with_one_wrong_colour_is_quarantined_with_count_and_location(tmp_path: Path) -> None:
    make_mut1ny_tree(tmp_path, 3)
    label = tmp_path / "labels" / "p1.png"
    rgb = np.array(Image.open(label))
    rgb[4, 7] = (10, 20, 30)  # not in the palette
    write_png(label, rgb)
    config = SourceConfig(name="m", format="mut1ny", path=str(tmp_path))
    result = read_source(config, "/")
    assert len(result.rows) == 2
    (entry,) = result.quarantine
    assert entry.check is QuarantineCheck.UNKNOWN_MASK_COLORS
    assert "1 pixels" in entry.reason and "row 4, column 7" in entry.reason and "[10, 20, 30]" in entry.reason
    tolerant = read_source(config.model_copy(update={"unknown_color_tolerance": 1}), "/")
    assert len(tolerant.rows) == 3
    assert tolerant.report["tolerated_unknown_colors"][0]["unknown_pixels"] == 1
    kept = next(row for row in tolerant.rows if row.path.endswith("p1.png"))
    assert (
        load_class_mask(kept.mask_path, encoding="color", scheme=MUT1NY_14).class_ids[4, 7] == UNKNOWN_CLASS
    )


def test_a_paired_image_with_an_exif_rotation_is_quarantined_not_trained_misaligned(tmp_path: Path) -> None:
    make_mut1ny_tree(tmp_path, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers (and decode_rgb) rotate it by 90 degrees; its mask says nothing
    Image.fromarray(random_image(1)).save(tmp_path / "images" / "p1.png", exif=exif)
    result = read_source(SourceConfig(name="m", format="mut1ny", path=str(tmp_path)), "/")
    assert sorted(Path(row.path).name for row in result.rows) == ["p0.png", "p2.png"]
    (entry,) = result.quarantine
    assert entry.check is QuarantineCheck.EXIF_ORIENTATION and Path(entry.path).name == "p1.png"
    assert "EXIF orientation 6" in entry.reason and "p1.png" in entry.reason


def test_mut1ny_missing_label_size_mismatch_and_11_class_scheme(tmp_path: Path) -> None:
    make_mut1ny_tree(tmp_path, 3, scheme=MUT1NY_11)
    (tmp_path / "labels" / "p0.png").unlink()
    write_png(tmp_path / "labels" / "p2.png", MUT1NY_11.encode_mask(_class_ids(9, size=8, num_classes=11)))
    result = read_source(SourceConfig(name="m", format="mut1ny", path=str(tmp_path), scheme="mut1ny11"), "/")
    assert len(result.rows) == 1 and result.rows[0].mask_scheme == "mut1ny11"
    checks = {Path(entry.path).name: entry.check for entry in result.quarantine}
    assert checks == {"p0.png": QuarantineCheck.MISSING_PAIR, "p2.png": QuarantineCheck.MASK_SIZE_MISMATCH}


def test_mut1ny_without_index_is_a_layout_error(tmp_path: Path) -> None:
    with pytest.raises(SourceLayoutError, match=r"training\.xml"):
        read_source(SourceConfig(name="m", format="mut1ny", path=str(tmp_path)), "/")


def test_celebamask_parts_are_merged_into_index_masks_of_the_image_size(tmp_path: Path) -> None:
    for k in (0, 1, 2):
        write_jpeg(tmp_path / "CelebA-HQ-img" / f"{k}.jpg", random_image(k, 32))
    part = np.zeros((16, 16), dtype=np.uint8)  # annotations at half the image size, as distributed
    parts = {
        "skin": (slice(2, 14), slice(2, 14)),
        "l_eye": (slice(5, 7), slice(4, 6)),
        "mouth": (slice(10, 12), slice(6, 10)),
        "hat": (slice(0, 3), slice(0, 16)),
    }
    for name, (rows, cols) in parts.items():
        mask = part.copy()
        mask[rows, cols] = 255
        for k in (0, 1):
            write_png(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / f"{k:05d}_{name}.png", mask)
    config = SourceConfig(name="celeba", format="celebamask_hq", path=str(tmp_path))
    result = read_source(config, "/", derived_dir=tmp_path / "derived")
    assert len(result.rows) == 2 and result.report["masks_resized"] == 2
    assert [(e.check, Path(e.path).name) for e in result.quarantine] == [
        (QuarantineCheck.MISSING_PAIR, "2.jpg")
    ]
    row = result.rows[0]
    assert row.mask_encoding == "index" and (row.width, row.height) == (32, 32)
    ids = load_class_mask(row.mask_path, encoding="index", scheme=MUT1NY_14).class_ids
    assert ids.shape == (32, 32)
    assert ids[0, 0] == 0  # hat → background (painted last, over nothing else here)
    assert ids[16, 16] == MUT1NY_14.id_of("face")
    assert ids[11, 9] == MUT1NY_14.id_of("left_eye")
    assert ids[21, 15] == MUT1NY_14.id_of("teeth")  # mouth → teeth (documented choice)
    again = read_source(config, "/", derived_dir=tmp_path / "derived")
    assert again.report["masks_reused"] == 2


def test_celebamask_at_real_size_gives_1024_px_masks_aligned_with_their_images(tmp_path: Path) -> None:
    # As distributed: a 1024 px JPEG, its part masks at 512 px.
    write_jpeg(tmp_path / "CelebA-HQ-img" / "0.jpg", random_image(0, 1024))
    parts = tmp_path / "CelebAMask-HQ-mask-anno" / "0"
    skin = np.zeros((512, 512), dtype=np.uint8)
    skin[100:450, 120:400] = 255
    eye = np.zeros((512, 512), dtype=np.uint8)
    eye[200:210, 300:320] = 255
    write_png(parts / "00000_skin.png", skin)
    write_png(parts / "00000_l_eye.png", eye)
    config = SourceConfig(name="celeba", format="celebamask_hq", path=str(tmp_path))
    result = read_source(config, "/", derived_dir=tmp_path / "derived")
    assert result.quarantine == [] and result.report["masks_resized"] == 1
    row = result.rows[0]
    assert (row.width, row.height) == (1024, 1024)
    ids = load_class_mask(row.mask_path, encoding="index", scheme=MUT1NY_14).class_ids
    assert ids.shape == (1024, 1024)
    eye_rows, eye_cols = np.nonzero(ids == MUT1NY_14.id_of("left_eye"))
    assert (eye_rows.min(), eye_rows.max(), eye_cols.min(), eye_cols.max()) == (400, 419, 600, 639)
    assert ids[300, 300] == MUT1NY_14.id_of("face") and ids[0, 0] == 0


def test_celebamask_merged_masks_follow_scheme_and_part_content(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "CelebA-HQ-img" / "0.jpg", random_image(0, 32))
    parts = tmp_path / "CelebAMask-HQ-mask-anno" / "0"
    eye = np.zeros((32, 32), dtype=np.uint8)
    eye[10:14, 20:26] = 255
    write_png(parts / "00000_r_eye.png", eye)
    write_png(parts / "00000_skin.png", np.full((32, 32), 255, dtype=np.uint8))
    derived = tmp_path / "derived"

    def eye_id(scheme: str) -> int:
        config = SourceConfig(name="celeba", format="celebamask_hq", path=str(tmp_path), scheme=scheme)
        row = read_source(config, "/", derived_dir=derived).rows[0]
        assert row.mask_scheme == scheme
        return int(
            load_class_mask(row.mask_path, encoding="index", scheme=get_scheme(scheme)).class_ids[11, 22]
        )

    assert eye_id("mut1ny14") == MUT1NY_14.id_of("right_eye")
    # Switching the scheme must not reuse the 14-class mask (id 3 is "nose" in mut1ny11).
    assert eye_id("mut1ny11") == get_scheme("mut1ny11").id_of("eyes")
    eye[:] = 0  # the part file changes: the merged mask must follow its content
    write_png(parts / "00000_r_eye.png", eye)
    assert eye_id("mut1ny11") == get_scheme("mut1ny11").id_of("face")
    assert len(list(derived.glob("00000-*.png"))) == 1, "superseded merged masks are removed"


def test_celebamask_part_mask_bomb_or_corruption_is_quarantined(tmp_path: Path) -> None:
    for k in (0, 1):
        write_jpeg(tmp_path / "CelebA-HQ-img" / f"{k}.jpg", random_image(k, 32))
    parts = tmp_path / "CelebAMask-HQ-mask-anno" / "0"
    write_huge_png(parts / "00000_skin.png")
    write_corrupt_png(parts / "00001_skin.png")
    config = SourceConfig(name="celeba", format="celebamask_hq", path=str(tmp_path))
    result = read_source(config, "/", derived_dir=tmp_path / "derived")
    assert not result.rows
    reasons = {Path(e.path).name: e.reason for e in result.quarantine}
    assert "00000_skin.png" in reasons["0.jpg"] and "exceeds the limit" in reasons["0.jpg"]
    assert "00001_skin.png" in reasons["1.jpg"]


def test_artifact_root_roles_target_mismatch_escape_and_missing_metadata(tmp_path: Path) -> None:
    make_artifact_folder(tmp_path / "ffhq", 3, target=0, seed=1)
    write_metadata(tmp_path / "ffhq", [("images/000.png", 0), ("images/001.png", 1), ("images/002.png", 0)])
    make_artifact_folder(tmp_path / "stylegan2", 2, target=1, seed=2)
    write_png(tmp_path / "secret.png", random_image(5))
    rows = [("images/000.png", 1), ("images/001.png", 1), ("../secret.png", 1), ("images/missing.png", 1)]
    write_metadata(tmp_path / "stylegan2", rows)
    write_png(tmp_path / "loose" / "a.png", random_image(6))
    config = SourceConfig(name="artifact", format="artifact", path=str(tmp_path), real=["ffhq"])
    result = read_source(config, "/")
    labels = {(row.source, row.label, row.generator) for row in result.rows}
    assert labels == {("ffhq", 0, None), ("stylegan2", 1, "stylegan2")}
    assert len(result.rows) == 4  # ffhq's row marked generated is not kept with the folder's label
    assert result.report["target_mismatches"] == 1
    assert result.report["folders"]["ffhq"]["mismatch_examples"] == [
        {"image_path": "images/001.png", "target": "1", "label": 0}
    ]
    checks = sorted(entry.check.value for entry in result.quarantine)
    assert checks == ["invalid_metadata", "missing_file", "path_escapes_root", "target_mismatch"]
    (mismatch,) = [entry for entry in result.quarantine if entry.check.value == "target_mismatch"]
    assert mismatch.path.endswith("ffhq/images/001.png")
    assert "metadata.csv line 3" in mismatch.reason and "'ffhq'" in mismatch.reason


def test_artifact_single_folder_quarantines_rows_whose_target_contradicts_its_role(tmp_path: Path) -> None:
    make_artifact_folder(tmp_path / "newgan", 3, target=1, seed=3)
    write_metadata(tmp_path / "newgan", [("images/000.png", 0), ("images/001.png", 1), ("images/002.png", 0)])
    config = SourceConfig(name="newgan", format="artifact", path=str(tmp_path / "newgan"), role="fake")
    result = read_source(config, "/")
    assert [(Path(row.path).name, row.label, row.generator) for row in result.rows] == [
        ("001.png", 1, "newgan")
    ]
    assert result.report["target_mismatches"] == 2
    reasons = {Path(e.path).name: e.reason for e in result.quarantine if e.check.value == "target_mismatch"}
    assert sorted(reasons) == ["000.png", "002.png"]
    assert "line 2" in reasons["000.png"] and "real" in reasons["000.png"]


def test_ffhq_layout_and_thumbnails(tmp_path: Path) -> None:
    write_png(tmp_path / "images1024x1024" / "00000" / "00000.png", random_image(1))
    write_png(tmp_path / "images1024x1024" / "00000" / "00001.png", random_image(2))
    write_png(tmp_path / "images1024x1024" / "LICENSE.png", random_image(3))
    write_png(tmp_path / "thumbnails128x128" / "01000" / "01000.png", random_image(4))
    result = read_source(SourceConfig(name="ffhq", format="ffhq", path=str(tmp_path)), "/")
    assert [Path(row.path).name for row in result.rows] == ["00000.png", "00001.png"]
    assert result.report["ignored_files"] == 1
    thumbs = read_source(
        SourceConfig(name="ffhq", format="ffhq", path=str(tmp_path), ffhq_folder="thumbnails128x128"), "/"
    )
    assert len(thumbs.rows) == 1 and thumbs.rows[0].label == 0


def test_folder_layout_real_and_fake_subfolders(tmp_path: Path) -> None:
    write_png(tmp_path / "real" / "cam" / "a.png", random_image(1))
    write_jpeg(tmp_path / "real" / "cam" / "deep" / "b.JPG", random_image(2))
    (tmp_path / "fake" / "gen").mkdir(parents=True)
    Image.fromarray(random_image(3)).save(tmp_path / "fake" / "gen" / "c.webp")
    (tmp_path / "fake" / "gen" / "notes.txt").write_text("not an image")
    result = read_source(SourceConfig(name="mine", format="folder", path=str(tmp_path)), "/")
    assert sorted((Path(r.path).name, r.label, r.source, r.generator) for r in result.rows) == [
        ("a.png", 0, "cam", None), ("b.JPG", 0, "cam", None), ("c.webp", 1, "gen", "gen")
    ]  # fmt: skip


def test_folder_with_fixed_role_is_one_source(tmp_path: Path) -> None:
    write_png(tmp_path / "x" / "a.png", random_image(1))
    result = read_source(SourceConfig(name="newgen", format="folder", path=str(tmp_path), role="fake"), "/")
    assert [(r.source, r.generator, r.label) for r in result.rows] == [("newgen", "newgen", 1)]


def test_identity_pattern_namespaced_by_source(tmp_path: Path) -> None:
    write_png(tmp_path / "real" / "cam" / "id7_0.png", random_image(1))
    write_png(tmp_path / "real" / "cam" / "id7_1.png", random_image(2))
    write_png(tmp_path / "real" / "cam" / "other.png", random_image(3))
    config = SourceConfig(
        name="mine", format="folder", path=str(tmp_path), identity_pattern=r"(?P<identity>id\d+)_"
    )
    result = read_source(config, "/")
    assert sorted(str(row.identity) for row in result.rows) == ["None", "cam:id7", "cam:id7"]
    assert result.report["identity_unmatched"] == 1


def test_missing_source_is_an_error_and_empty_source_a_quarantine_row(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="nowhere"):
        read_source(SourceConfig(name="gone", format="folder", path="nowhere", role="real"), tmp_path)
    (tmp_path / "empty").mkdir()
    result = read_source(SourceConfig(name="empty", format="folder", path="empty", role="real"), tmp_path)
    assert result.report["empty"] is True
    assert [entry.check for entry in result.quarantine] == [QuarantineCheck.EMPTY_SOURCE]
