"""Bad-input cases, second round: labels (registered into ``cases.CASES`` on import, see ``cases.py``).

Sources whose own listing disagrees with itself (one image listed twice with two targets or two
label files, a label column the reader would not see) and folders whose layout marks images real
given to ``add-generator``. None of them may change a label or decide it by the order of rows.
"""

from __future__ import annotations

from pathlib import Path

from tests.data.bad_inputs.builders import (
    IMAGE_SIZE,
    artifact_folder,
    artifact_root,
    face_mask,
    mut1ny_pair_xml,
    mut1ny_tree,
)
from tests.data.bad_inputs.cases import case
from tests.data.bad_inputs.corpus import Built, accepted, quarantined, refused
from tests.data.tree_builders import random_image, write_png


def _write_csv(folder: Path, header: str, rows: list[str]) -> None:
    (folder / "metadata.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


# ------------------------------------------------------------------- ingestion: ArtiFact ---


@case(
    "metadata.csv lists one image twice, as generated and as real",
    "ingestion",
    quarantined("contradicting_metadata", "lines 2 and 4"),
)
def _artifact_contradicting_rows(root: Path) -> Built:
    source = artifact_root(root)
    rows = ["images/000.png,1,x", "images/001.png,1,x", "images/000.png,0,x"]
    _write_csv(root / "artifact" / "gan", "image_path,target,category", rows)
    return Built([source], good=3)


@case(
    "metadata.csv lists one image twice with the same target",
    "ingestion",
    quarantined("duplicate_entry", "kept once"),
)
def _artifact_duplicate_rows(root: Path) -> Built:
    source = artifact_root(root)
    rows = ["images/000.png,1,x", "images/001.png,1,x", "images/000.png,1,x"]
    _write_csv(root / "artifact" / "gan", "image_path,target,category", rows)
    return Built([source], good=4)


@case(
    "metadata.csv header `Image_Path, Target ` (other case, spaces), a row target 0 in a generator folder",
    "ingestion",
    quarantined("target_mismatch", "line 4"),
)
def _artifact_header_case(root: Path) -> Built:
    source = artifact_root(root)
    gan = root / "artifact" / "gan"
    write_png(gan / "images" / "002.png", random_image(9, IMAGE_SIZE))
    rows = ["images/000.png,1,x", "images/001.png,1,x", "images/002.png,0,x"]
    _write_csv(gan, "Image_Path, Target ,Category", rows)
    return Built([source], good=4)


@case(
    "metadata.csv with a `label` column instead of `target`",
    "ingestion",
    quarantined("invalid_metadata", "column 'label' looks like a label"),
)
def _artifact_label_column(root: Path) -> Built:
    source = artifact_root(root)
    _write_csv(root / "artifact" / "gan", "image_path,label", ["images/000.png,0", "images/001.png,1"])
    return Built([source], good=2)


@case(
    "metadata.csv with both `target` and `Target` columns",
    "ingestion",
    quarantined("invalid_metadata", "named twice"),
)
def _artifact_two_target_columns(root: Path) -> Built:
    source = artifact_root(root)
    rows = ["images/000.png,1,0", "images/001.png,1,1"]
    _write_csv(root / "artifact" / "gan", "image_path,target,Target", rows)
    return Built([source], good=2)


# --------------------------------------------------------------------- ingestion: Mut1ny ---


@case(
    "Mut1ny pair listed twice in training.xml", "ingestion", quarantined("duplicate_entry", "pairs 1 and 3")
)
def _mut1ny_duplicate_pair(root: Path) -> Built:
    _, source = mut1ny_tree(root, extra_xml=mut1ny_pair_xml("images/p0.png", "labels/p0.png"))
    return Built([source], good=2)


@case(
    "Mut1ny image listed with two different label files",
    "ingestion",
    quarantined("contradicting_metadata", "pair 3 'labels\\other.png'"),
)
def _mut1ny_two_labels(root: Path) -> Built:
    folder, source = mut1ny_tree(root, extra_xml=mut1ny_pair_xml("images/p0.png", "labels/other.png"))
    write_png(folder / "labels" / "other.png", face_mask())
    return Built([source], good=1)


# ------------------------------------------------------------------------- add-generator ---


@case(
    "plain folder laid out as real/<source>/ + fake/<generator>/",
    "add-generator",
    refused("holds real images (real/celebahq/, real/ffhq/)"),
)
def _add_real_and_fake(root: Path) -> Built:
    incoming = root / "incoming"
    write_png(incoming / "real" / "ffhq" / "a.png", random_image(700, IMAGE_SIZE))
    write_png(incoming / "real" / "celebahq" / "b.png", random_image(701, IMAGE_SIZE))
    write_png(incoming / "fake" / "newgan" / "c.png", random_image(702, IMAGE_SIZE))
    return Built(inputs=[incoming])


@case(
    "ArtiFact root holding a real source folder (ffhq/) and a generator folder",
    "add-generator",
    refused("ffhq/metadata.csv"),
)
def _add_artifact_root(root: Path) -> Built:
    source = artifact_root(root)
    return Built(inputs=[Path(source["path"])])


@case("plain folder holding only fake/<generator>/", "add-generator", accepted("holding only fake/"))
def _add_fake_only(root: Path) -> Built:
    incoming = root / "incoming"
    for index in range(2):
        write_png(incoming / "fake" / "newgan" / f"f{index}.png", random_image(710 + index, IMAGE_SIZE))
    return Built(inputs=[incoming], good=2)


@case(
    "metadata.csv lists one image twice, as generated and as real",
    "add-generator",
    quarantined("contradicting_metadata", "lines 2 and 4"),
)
def _add_contradicting_rows(root: Path) -> Built:
    incoming = root / "incoming"
    artifact_folder(incoming, 2, target=1, seed=720)
    _write_csv(
        incoming,
        "image_path,target,category",
        ["images/000.png,1,x", "images/001.png,1,x", "images/000.png,0,x"],
    )
    return Built(inputs=[incoming], good=1)
