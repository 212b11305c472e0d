"""The bad-input corpus: every hostile input we know of, the entry point it meets and the outcome.

Each case is a function that writes its input under an empty folder (small good data around one
bad thing, so that "the rest still goes through" is checked too) and returns a ``Built``; the
``@case`` decorator registers it with its entry point and expected outcome. Cases run in the
order they are defined; the table in ``docs/bad_inputs.md`` lists them in the same order.

To add a case: write a builder under the section of its entry point and decorate it. To add an
entry point: add it to ``corpus.ENTRY_POINTS`` and a runner to ``entry_points.RUNNERS``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tests.data.bad_inputs.builders import (
    IMAGE_SIZE,
    artifact_folder,
    artifact_root,
    celebamask_tree,
    closed_port_uri,
    face_mask,
    mut1ny_pair_xml,
    mut1ny_tree,
    non_utf8_name,
    plain_folder,
    write_mut1ny_index,
)
from tests.data.bad_inputs.corpus import (
    BadInput,
    Built,
    EntryPoint,
    Expected,
    accepted,
    error_row,
    fails_expectation,
    quarantined,
    refused,
)
from tests.data.tree_builders import (
    random_image,
    write_blank_palette_png,
    write_corrupt_png,
    write_float_tiff,
    write_huge_png,
    write_metadata,
    write_mode_variants,
    write_png,
    write_truncated_jpeg,
)

CASES: list[BadInput] = []


def case(name: str, entry_point: EntryPoint, expected: Expected) -> Callable:
    """Register the decorated builder as a case of the corpus."""

    def register(build: Callable[[Path], Built]) -> Callable[[Path], Built]:
        CASES.append(BadInput(name, entry_point, build, expected))
        return build

    return register


# ---------------------------------------------------------------- ingestion: image files ---


@case("truncated JPEG", "ingestion", quarantined("truncated_image", "cut.jpg"))
def _truncated_jpeg(root: Path) -> Built:
    source = plain_folder(root)
    write_truncated_jpeg(root / "mine" / "cut.jpg")
    return Built([source], good=2)


@case("PNG with a damaged chunk (bad checksum)", "ingestion", quarantined("corrupt_image", "flipped.png"))
def _corrupt_png(root: Path) -> Built:
    source = plain_folder(root)
    write_corrupt_png(root / "mine" / "flipped.png")
    return Built([source], good=2)


@case("text file named .png", "ingestion", quarantined("not_an_image", "notes.png"))
def _not_an_image(root: Path) -> Built:
    source = plain_folder(root)
    (root / "mine" / "notes.png").write_text("not an image")
    return Built([source], good=2)


@case(
    "PNG header declaring 30000x30000 pixels (image bomb)",
    "ingestion",
    quarantined("image_too_large", "30000x30000"),
)
def _image_bomb(root: Path) -> Built:
    source = plain_folder(root)
    write_huge_png(root / "mine" / "bomb.png")
    return Built([source], good=2)


@case(
    "dangling symbolic link named .png (unreadable path)",
    "ingestion",
    quarantined("unreadable_file", "dangling.png"),
)
def _unreadable_path(root: Path) -> Built:
    source = plain_folder(root)
    (root / "mine" / "dangling.png").symlink_to(root / "nowhere.png")
    return Built([source], good=2)


@case("image file name with a non-UTF-8 byte", "ingestion", quarantined("invalid_file_name", "caf\\xe9.png"))
def _non_utf8_file_name(root: Path) -> Built:
    source = plain_folder(root)
    write_png(non_utf8_name(root / "mine"), random_image(7, IMAGE_SIZE))
    return Built([source], good=2)


@case("identical file labelled real and fake", "ingestion", quarantined("label_conflict", "x.png"))
def _label_conflict(root: Path) -> Built:
    for index in range(2):
        write_png(root / "mixed" / "real" / "cam" / f"r{index}.png", random_image(index, IMAGE_SIZE))
        write_png(root / "mixed" / "fake" / "gan" / f"f{index}.png", random_image(50 + index, IMAGE_SIZE))
    write_png(root / "mixed" / "real" / "cam" / "x.png", random_image(99, IMAGE_SIZE))
    shutil.copyfile(root / "mixed" / "real" / "cam" / "x.png", root / "mixed" / "fake" / "gan" / "x.png")
    return Built([{"name": "mixed", "format": "folder", "path": str(root / "mixed")}], good=4)


@case("empty source folder (beside a good one)", "ingestion", quarantined("empty_source", "empty"))
def _empty_source(root: Path) -> Built:
    (root / "empty").mkdir()
    empty = {"name": "empty", "format": "folder", "path": str(root / "empty"), "role": "real"}
    return Built([plain_folder(root), empty], good=2)


@case("source folder that does not exist", "ingestion", refused("do not exist"))
def _missing_source(root: Path) -> Built:
    gone = {"name": "gone", "format": "folder", "path": str(root / "gone"), "role": "real"}
    return Built([plain_folder(root), gone])


# --------------------------------------------------------------------- ingestion: Mut1ny ---


@case(
    "Mut1ny XML path escaping the folder (..\\)", "ingestion", quarantined("path_escapes_root", "outside.png")
)
def _mut1ny_escape(root: Path) -> Built:
    write_png(root / "outside.png", random_image(9, IMAGE_SIZE))
    _, source = mut1ny_tree(root, extra_xml=mut1ny_pair_xml("../outside.png", "labels/p0.png"))
    return Built([source], good=2)


@case("Mut1ny <srcimg> without <labelimg>", "ingestion", quarantined("missing_pair", "lonely.png"))
def _mut1ny_missing_label_entry(root: Path) -> Built:
    folder, source = mut1ny_tree(root, extra_xml='<srcimg name="images\\lonely.png"/>')
    write_png(folder / "images" / "lonely.png", random_image(9, IMAGE_SIZE))
    return Built([source], good=2)


@case("Mut1ny label file missing", "ingestion", quarantined("missing_pair", "gone.png"))
def _mut1ny_missing_label_file(root: Path) -> Built:
    folder, source = mut1ny_tree(root, extra_xml=mut1ny_pair_xml("images/x.png", "labels/gone.png"))
    write_png(folder / "images" / "x.png", random_image(9, IMAGE_SIZE))
    return Built([source], good=2)


@case("Mut1ny XML not well-formed", "ingestion", refused("not well-formed XML"))
def _mut1ny_bad_xml(root: Path) -> Built:
    folder, source = mut1ny_tree(root)
    write_mut1ny_index(folder, '<srcimg name="images\\p0.png"')
    return Built([source])


@case(
    "Mut1ny mask with a colour outside the palette",
    "ingestion",
    quarantined("unknown_mask_colors", "row 3, column 5"),
)
def _mut1ny_unknown_colour(root: Path) -> Built:
    folder, source = mut1ny_tree(root, good=3)
    mask = face_mask()
    mask[3, 5] = (10, 20, 30)
    write_png(folder / "labels" / "p2.png", mask)
    return Built([source], good=2)


@case("Mut1ny mask of another size than its image", "ingestion", quarantined("mask_size_mismatch", "8x8"))
def _mut1ny_size_mismatch(root: Path) -> Built:
    folder, source = mut1ny_tree(root, good=3)
    write_png(folder / "labels" / "p2.png", face_mask(8))
    return Built([source], good=2)


@case(
    "Mut1ny 20000x20000 mask PNG of 48 KB (mask bomb)",
    "ingestion",
    quarantined("image_too_large", "20000x20000"),
)
def _mut1ny_mask_bomb(root: Path) -> Built:
    folder, source = mut1ny_tree(root, good=3)
    write_blank_palette_png(folder / "labels" / "p2.png", 20_000, 20_000)
    return Built([source], good=2)


@case(
    "CelebAMask-HQ 20000x20000 part mask (mask bomb)",
    "ingestion",
    quarantined("image_too_large", "20000x20000"),
)
def _celebamask_part_bomb(root: Path) -> Built:
    folder, source = celebamask_tree(root, good=3)
    write_blank_palette_png(folder / "CelebAMask-HQ-mask-anno" / "0" / "00002_hair.png", 20_000, 20_000)
    return Built([source], good=2)


# ------------------------------------------------------------------- ingestion: ArtiFact ---


@case(
    "metadata.csv path escaping the folder (../)",
    "ingestion",
    quarantined("path_escapes_root", "../../secret.png"),
)
def _artifact_escape(root: Path) -> Built:
    source = artifact_root(root)
    write_png(root / "secret.png", random_image(9, IMAGE_SIZE))
    gan = root / "artifact" / "gan"
    write_metadata(gan, [("images/000.png", 1), ("images/001.png", 1), ("../../secret.png", 1)])
    return Built([source], good=4)


@case("metadata.csv lists a missing file", "ingestion", quarantined("missing_file", "missing.png"))
def _artifact_missing_file(root: Path) -> Built:
    source = artifact_root(root)
    write_metadata(
        root / "artifact" / "gan", [("images/000.png", 1), ("images/001.png", 1), ("images/missing.png", 1)]
    )
    return Built([source], good=4)


@case(
    "ArtiFact folder without metadata.csv",
    "ingestion",
    quarantined("invalid_metadata", "without metadata.csv"),
)
def _artifact_no_metadata(root: Path) -> Built:
    source = artifact_root(root)
    write_png(root / "artifact" / "loose" / "a.png", random_image(9, IMAGE_SIZE))
    return Built([source], good=4)


@case(
    "metadata.csv without an image_path column",
    "ingestion",
    quarantined("invalid_metadata", "no 'image_path' column"),
)
def _artifact_no_column(root: Path) -> Built:
    source = artifact_root(root)
    (root / "artifact" / "gan" / "metadata.csv").write_text(
        "file,target\nimages/000.png,1\n", encoding="utf-8"
    )
    return Built([source], good=2)


@case(
    "row marked real (target 0) in a generator folder", "ingestion", quarantined("target_mismatch", "line 4")
)
def _artifact_target_mismatch(root: Path) -> Built:
    source = artifact_root(root)
    gan = root / "artifact" / "gan"
    write_png(gan / "images" / "002.png", random_image(9, IMAGE_SIZE))
    write_metadata(gan, [("images/000.png", 1), ("images/001.png", 1), ("images/002.png", 0)])
    return Built([source], good=4)


@case("metadata.csv target `inf`", "ingestion", quarantined("invalid_metadata", "'inf' is not an integer"))
def _artifact_target_inf(root: Path) -> Built:
    source = artifact_root(root)
    gan = root / "artifact" / "gan"
    write_png(gan / "images" / "002.png", random_image(9, IMAGE_SIZE))
    write_metadata(gan, [("images/000.png", 1), ("images/001.png", 1), ("images/002.png", "inf")])
    return Built([source], good=4)


@case(
    "metadata.csv saved as latin-1",
    "ingestion",
    quarantined("invalid_metadata", "is not UTF-8 text (byte 0xe9"),
)
def _artifact_latin1(root: Path) -> Built:
    source = artifact_root(root)
    gan = root / "artifact" / "gan"
    text = "image_path,target,category\nimages/000.png,1,visages générés\nimages/001.png,1,x\n"
    (gan / "metadata.csv").write_bytes(text.encode("latin-1"))
    return Built([source], good=2)


@case("metadata.csv saved by Excel (UTF-8 with BOM)", "ingestion", accepted())
def _artifact_bom(root: Path) -> Built:
    source = artifact_root(root)
    metadata = root / "artifact" / "gan" / "metadata.csv"
    metadata.write_bytes(b"\xef\xbb\xbf" + metadata.read_bytes())
    return Built([source], good=4)


@case("image files not listed in metadata.csv", "ingestion", accepted("images/stray.png"))
def _artifact_unlisted(root: Path) -> Built:
    source = artifact_root(root)
    write_png(root / "artifact" / "gan" / "images" / "stray.png", random_image(9, IMAGE_SIZE))
    return Built([source], good=4)


# ------------------------------------------------------------- validation (great-expectations) ---
# Ingested, split and validated as the pipeline does, with bounds sized for 8 images per source.


@case("good ArtiFact tree (baseline)", "validation", accepted())
def _valid_baseline(root: Path) -> Built:
    return Built([artifact_root(root, good=8)], good=16)


@case("identical image in two generator folders (duplicates across splits)", "validation", accepted())
def _duplicate_across_sources(root: Path) -> Built:
    source = artifact_root(root, good=8, generators=("gan", "gan2"))
    gans = root / "artifact"
    shutil.copyfile(gans / "gan" / "images" / "000.png", gans / "gan2" / "images" / "000.png")
    return Built([source], good=24)


@case("generator folder with too few images", "validation", fails_expectation("generator_min_images"))
def _too_few_images(root: Path) -> Built:
    source = artifact_root(root, good=8)
    artifact_folder(root / "artifact" / "tiny", 2, target=1, seed=500)
    return Built([source], good=18)


@case("image smaller than the minimum size", "validation", fails_expectation("width_in_bounds"))
def _too_small(root: Path) -> Built:
    source = artifact_root(root, good=8)
    gan = root / "artifact" / "gan"
    write_png(gan / "images" / "small.png", random_image(9, 4))
    write_metadata(gan, [(f"images/{i:03d}.png", 1) for i in range(8)] + [("images/small.png", 1)])
    return Built([source], good=17)


@case("Mut1ny mask with stray colours within the source's tolerance", "validation", accepted())
def _tolerated_colours(root: Path) -> Built:
    folder, source = mut1ny_tree(root, good=8)
    mask = face_mask()
    mask[0, 0] = (1, 2, 3)
    write_png(folder / "labels" / "p0.png", mask)
    return Built([{**source, "unknown_color_tolerance": 5}], good=8)


@case(
    "Mut1ny mask with more stray colours than the source's tolerance",
    "validation",
    quarantined("unknown_mask_colors", "tolerance is 1"),
)
def _colours_over_tolerance(root: Path) -> Built:
    folder, source = mut1ny_tree(root, good=8)
    mask = face_mask()
    mask[0, 0:3] = (1, 2, 3)
    write_png(folder / "labels" / "p0.png", mask)
    return Built([{**source, "unknown_color_tolerance": 1}], good=7)


# ------------------------------------------------------------ image modes (one policy) ---
# Faithful modes are converted to RGB everywhere and recorded in the manifest's `mode` column;
# only what has no faithful conversion is quarantined (`unsupported_mode`).


@case(
    "16-bit grayscale, L, LA, P, RGBA and CMYK images among RGB ones",
    "validation",
    accepted(),
)
def _every_mode(root: Path) -> Built:
    source = artifact_root(root, good=8)
    gan = root / "artifact" / "gan"
    names = write_mode_variants(gan / "images", seed=600)
    listed = [(f"images/{i:03d}.png", 1) for i in range(8)] + [(f"images/{name}", 1) for name in names]
    write_metadata(gan, listed)
    return Built([source], good=16 + len(names))


@case("TIFF of float pixels named .png", "ingestion", quarantined("unsupported_mode", "float.png"))
def _float_image(root: Path) -> Built:
    source = plain_folder(root)
    write_float_tiff(root / "mine" / "float.png")
    return Built([source], good=2)


@case("16-bit grayscale, L, LA, P, RGBA and CMYK images", "add-generator", accepted())
def _add_every_mode(root: Path) -> Built:
    names = write_mode_variants(root / "incoming", seed=650)
    return Built(inputs=[root / "incoming"], good=len(names))


@case("TIFF of float pixels named .png", "add-generator", quarantined("unsupported_mode", "float.png"))
def _add_float_image(root: Path) -> Built:
    write_png(root / "incoming" / "good.png", random_image(660, IMAGE_SIZE))
    write_float_tiff(root / "incoming" / "float.png")
    return Built(inputs=[root / "incoming"], good=1)


# ------------------------------------------------------------------------- add-generator ---


@case(
    "ArtiFact folder whose metadata.csv marks a row real (target 0)",
    "add-generator",
    quarantined("target_mismatch", "line 3"),
)
def _add_relabel(root: Path) -> Built:
    incoming = root / "incoming"
    artifact_folder(incoming, 3, target=1, seed=600)
    write_metadata(incoming, [("images/000.png", 1), ("images/001.png", 0), ("images/002.png", 1)])
    return Built(inputs=[incoming], good=2)


@case("ArtiFact folder whose rows are all marked real", "add-generator", refused("target_mismatch"))
def _add_all_real(root: Path) -> Built:
    incoming = root / "incoming"
    artifact_folder(incoming, 2, target=0, seed=610)
    return Built(inputs=[incoming])


@case(
    "symbolic link to a file outside the folder",
    "add-generator",
    quarantined("path_escapes_root", "symbolic link"),
)
def _add_symlink_escape(root: Path) -> Built:
    incoming = root / "incoming"
    plain_folder(incoming, role="fake", name="images")
    write_png(root / "private" / "me.png", random_image(9, IMAGE_SIZE))
    (incoming / "images" / "link.png").symlink_to(root / "private" / "me.png")
    return Built(inputs=[incoming], good=2)


@case("truncated image among good ones", "add-generator", quarantined("truncated_image", "cut.jpg"))
def _add_truncated(root: Path) -> Built:
    incoming = root / "incoming"
    plain_folder(incoming, role="fake", name="images")
    write_truncated_jpeg(incoming / "images" / "cut.jpg")
    return Built(inputs=[incoming], good=2)


@case(
    "PNG header declaring 30000x30000 pixels (image bomb)",
    "add-generator",
    quarantined("image_too_large", "30000x30000"),
)
def _add_bomb(root: Path) -> Built:
    incoming = root / "incoming"
    plain_folder(incoming, role="fake", name="images")
    write_huge_png(incoming / "images" / "bomb.png")
    return Built(inputs=[incoming], good=2)


@case(
    "image file name with a non-UTF-8 byte", "add-generator", quarantined("invalid_file_name", "caf\\xe9.png")
)
def _add_non_utf8(root: Path) -> Built:
    incoming = root / "incoming"
    plain_folder(incoming, role="fake", name="images")
    write_png(non_utf8_name(incoming / "images"), random_image(9, IMAGE_SIZE))
    return Built(inputs=[incoming], good=2)


@case("metadata.csv saved as latin-1", "add-generator", refused("is not UTF-8 text"))
def _add_latin1(root: Path) -> Built:
    incoming = root / "incoming"
    artifact_folder(incoming, 2, target=1, seed=620)
    text = "image_path,target,category\nimages/000.png,1,générés\nimages/001.png,1,x\n"
    (incoming / "metadata.csv").write_bytes(text.encode("latin-1"))
    return Built(inputs=[incoming])


# ------------------------------------------------------------------------------- predict ---


def _good_images(root: Path) -> Path:
    folder = root / "to_score"
    for index in range(2):
        write_png(folder / f"good{index}.png", random_image(700 + index, IMAGE_SIZE))
    return folder


@case("truncated JPEG among good images", "predict", error_row("cut.jpg"))
def _predict_truncated(root: Path) -> Built:
    folder = _good_images(root)
    write_truncated_jpeg(folder / "cut.jpg")
    return Built(inputs=[folder], good=2)


@case("text file named .png among good images", "predict", error_row("notes.png"))
def _predict_not_an_image(root: Path) -> Built:
    folder = _good_images(root)
    (folder / "notes.png").write_text("not an image")
    return Built(inputs=[folder], good=2)


@case("PNG header declaring 30000x30000 pixels among good images", "predict", error_row("30000x30000"))
def _predict_bomb(root: Path) -> Built:
    folder = _good_images(root)
    write_huge_png(folder / "bomb.png")
    return Built(inputs=[folder], good=2)


@case("16-bit grayscale, CMYK and palette images", "predict", accepted())
def _predict_modes(root: Path) -> Built:
    folder = root / "modes"
    names = write_mode_variants(folder, seed=720)
    return Built(inputs=[folder], good=len(names))


@case("only unreadable images", "predict", refused("2 of 2 images could not be scored"))
def _predict_nothing_readable(root: Path) -> Built:
    write_truncated_jpeg(root / "cut.jpg")
    write_huge_png(root / "bomb.png")
    return Built(inputs=[root / "cut.jpg", root / "bomb.png"])


@case("model registry unreachable", "predict", refused("model registry at http://127.0.0.1:"))
def _predict_registry_down(root: Path) -> Built:
    return Built(inputs=[_good_images(root)], tracking_uri=closed_port_uri())


@case("no such model in the registry", "predict", refused("run the pipeline first"))
def _predict_no_champion(root: Path) -> Built:
    return Built(inputs=[_good_images(root)], options=["--model", "never-registered"])


@case("truncated JPEG among good images, --strict", "predict", refused("1 of 3 images could not be scored"))
def _predict_strict(root: Path) -> Built:
    folder = _good_images(root)
    write_truncated_jpeg(folder / "cut.jpg")
    return Built(inputs=[folder], options=["--strict"])


# -------------------------------------------------------------------------------- status ---


@case("model registry unreachable", "status", refused("model registry at http://127.0.0.1:"))
def _status_registry_down(root: Path) -> Built:
    return Built(tracking_uri=closed_port_uri())


@case("registry with a champion (baseline)", "status", accepted("deepfake-detector@champion: version 1"))
def _status_champion(root: Path) -> Built:
    return Built()


# ---------------------------------------------------------------- second round (issue 18) ---
# Each module registers its cases on import, after the ones above (the table keeps this order).
from tests.data.bad_inputs import cases_files, cases_labels, cases_masks, cases_scoring  # noqa: E402, F401
