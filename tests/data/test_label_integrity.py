"""Labels a source gives that disagree with themselves are reported, never decided by order or case.

ArtiFact ``metadata.csv`` rows that list one image twice, headers in another case, label columns
under another name; Mut1ny indexes that list a pair twice or give one image two label files; a
plain ``real/`` + ``fake/`` folder given to ``add-generator``, which would relabel the real images.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tree_builders import make_artifact_folder, random_image, write_png

from facetransfer.classes import MUT1NY_14
from facetransfer.ingestion.add_generator import add_generator
from facetransfer.ingestion.errors import SourceLayoutError
from facetransfer.ingestion.readers import read_source
from facetransfer.ingestion.records import QuarantineEntry
from facetransfer.ingestion.sources import SourceConfig


def _generator_folder(root: Path, header: str, rows: list[str], count: int = 3) -> SourceConfig:
    """A generator folder ``root/gan`` of ``count`` PNGs whose ``metadata.csv`` is ``header`` + ``rows``."""
    make_artifact_folder(root / "gan", count, target=1, seed=7)
    (root / "gan" / "metadata.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return SourceConfig(name="gan", format="artifact", path=str(root / "gan"), role="fake")


def _entries(quarantine: list[QuarantineEntry], check: str) -> list[QuarantineEntry]:
    return [entry for entry in quarantine if entry.check == check]


# ------------------------------------------------------------------------ ArtiFact metadata ---


@pytest.mark.parametrize("real_row_first", [False, True])
def test_artifact_rows_contradicting_each_other_quarantine_the_image_whatever_their_order(
    tmp_path: Path, real_row_first: bool
) -> None:
    rows = ["images/000.png,1,x", "images/001.png,1,x", "images/000.png,0,x", "images/002.png,1,x"]
    if real_row_first:
        rows[0], rows[2] = rows[2], rows[0]
    result = read_source(_generator_folder(tmp_path, "image_path,target,category", rows), "/")

    assert sorted(Path(row.path).name for row in result.rows) == ["001.png", "002.png"]
    (conflict,) = _entries(result.quarantine, "contradicting_metadata")
    assert conflict.path.endswith("000.png")
    assert "lines 2 and 4" in conflict.reason
    first, second = ("0", "1") if real_row_first else ("1", "0")
    assert f"line 2 target {first}" in conflict.reason and f"line 4 target {second}" in conflict.reason
    assert not _entries(result.quarantine, "target_mismatch")


def test_artifact_identical_duplicate_rows_are_reported_and_the_image_kept_once(tmp_path: Path) -> None:
    rows = ["images/000.png,1,x", "images/001.png,1,x", "images/000.png,1,x"]
    result = read_source(_generator_folder(tmp_path, "image_path,target,category", rows, count=2), "/")

    assert sorted(Path(row.path).name for row in result.rows) == ["000.png", "001.png"]
    (duplicate,) = _entries(result.quarantine, "duplicate_entry")
    assert duplicate.path.endswith("000.png") and "lines 2 and 4" in duplicate.reason
    assert "kept once" in duplicate.reason


@pytest.mark.parametrize("header", ["image_path,Target,category", " IMAGE_PATH , TARGET ,Category"])
def test_artifact_headers_are_matched_ignoring_case_and_spaces(tmp_path: Path, header: str) -> None:
    rows = ["images/000.png,1,x", "images/001.png,0,x", "images/002.png,1,x"]
    result = read_source(_generator_folder(tmp_path, header, rows), "/")

    assert sorted(Path(row.path).name for row in result.rows) == ["000.png", "002.png"]
    (mismatch,) = _entries(result.quarantine, "target_mismatch")
    assert "line 3" in mismatch.reason and result.report["target_mismatches"] == 1
    assert result.report["folders"]["gan"]["categories"] == {"x": 2}


@pytest.mark.parametrize("column", ["label", "is_fake", "Fake", "class"])
def test_artifact_label_column_under_another_name_is_reported_not_ignored(
    tmp_path: Path, column: str
) -> None:
    rows = ["images/000.png,1", "images/001.png,0", "images/002.png,1"]
    result = read_source(_generator_folder(tmp_path, f"image_path,{column}", rows), "/")

    assert not result.rows
    (invalid,) = _entries(result.quarantine, "invalid_metadata")
    assert invalid.path.endswith("metadata.csv")
    assert f"{column!r}" in invalid.reason and "'target'" in invalid.reason


def test_artifact_two_columns_named_target_are_reported(tmp_path: Path) -> None:
    rows = ["images/000.png,1,0", "images/001.png,1,1"]
    result = read_source(_generator_folder(tmp_path, "image_path,target,Target ", rows, count=2), "/")

    assert not result.rows
    (invalid,) = _entries(result.quarantine, "invalid_metadata")
    assert "'target'" in invalid.reason and "'Target '" in invalid.reason


# ---------------------------------------------------------------------------- Mut1ny index ---


def _mut1ny_tree(root: Path, pairs: list[tuple[str, str]]) -> SourceConfig:
    """Images p0..p2 with labels l0..l2 (and l2b) on disk; ``training.xml`` lists ``pairs``."""
    mask = MUT1NY_14.encode_mask(random_image(0)[..., 0] % 2)
    for index in range(3):
        write_png(root / "images" / f"p{index}.png", random_image(index))
        write_png(root / "labels" / f"l{index}.png", mask)
    write_png(root / "labels" / "l2b.png", mask)
    entries = "".join(
        f'<srcimg name="images\\{image}"/><labelimg name="labels\\{label}"/>' for image, label in pairs
    )
    (root / "training.xml").write_text(f"<dataset>{entries}</dataset>", encoding="utf-8")
    return SourceConfig(name="m", format="mut1ny", path=str(root))


def test_mut1ny_pair_listed_twice_is_reported_and_kept_once(tmp_path: Path) -> None:
    pairs = [("p0.png", "l0.png"), ("p1.png", "l1.png"), ("p0.png", "l0.png")]
    result = read_source(_mut1ny_tree(tmp_path, pairs), "/")

    assert sorted(Path(row.path).name for row in result.rows) == ["p0.png", "p1.png"]
    (duplicate,) = _entries(result.quarantine, "duplicate_entry")
    assert duplicate.path.endswith("p0.png")
    assert "pairs 1 and 3" in duplicate.reason and "kept once" in duplicate.reason


def test_mut1ny_image_with_two_label_files_is_quarantined_naming_both(tmp_path: Path) -> None:
    pairs = [("p0.png", "l0.png"), ("p2.png", "l2.png"), ("p1.png", "l1.png"), ("p2.png", "l2b.png")]
    result = read_source(_mut1ny_tree(tmp_path, pairs), "/")

    assert sorted(Path(row.path).name for row in result.rows) == ["p0.png", "p1.png"]
    (conflict,) = _entries(result.quarantine, "contradicting_metadata")
    assert conflict.path.endswith("p2.png") and "pairs 2 and 4" in conflict.reason
    assert "labels\\l2.png" in conflict.reason and "labels\\l2b.png" in conflict.reason


# ----------------------------------------------------------------------------- add-generator ---


def _real_and_fake_folder(root: Path) -> Path:
    for source in ("ffhq", "celebahq"):
        write_png(root / "real" / source / "r.png", random_image(len(source)))
    write_png(root / "fake" / "newgan" / "f.png", random_image(9))
    return root


def test_add_generator_refuses_a_folder_holding_real_images_and_names_them(tmp_path: Path) -> None:
    source = _real_and_fake_folder(tmp_path / "incoming")
    repo = tmp_path / "repo"

    with pytest.raises(SourceLayoutError) as refused:
        add_generator("newgan", source, repo_root=repo, push=False)

    message = str(refused.value)
    assert "real/celebahq" in message and "real/ffhq" in message
    assert "fake/" in message and "only" in message
    assert not (repo / "data").exists()


def test_add_generator_refuses_an_artifact_root_with_real_source_folders(tmp_path: Path) -> None:
    source = tmp_path / "incoming"
    make_artifact_folder(source / "ffhq", 2, target=0, seed=1)
    make_artifact_folder(source / "newgan", 2, target=1, seed=2)

    with pytest.raises(SourceLayoutError, match="ffhq") as refused:
        add_generator("newgan", source, repo_root=tmp_path / "repo", push=False)
    assert "metadata.csv" in str(refused.value)


def test_add_generator_takes_a_folder_holding_only_fake_and_says_so(git_repo: Path, tmp_path: Path) -> None:
    source = tmp_path / "incoming"
    write_png(source / "fake" / "newgan" / "f0.png", random_image(1))
    write_png(source / "fake" / "newgan" / "f1.png", random_image(2))

    report = add_generator("newgan", source, repo_root=git_repo, push=False)

    assert report.files_added == 2
    assert "fake/" in report.describe()
    added = git_repo / "data" / "detection" / "newgan"
    assert (added / "metadata.csv").read_text().splitlines()[1:] == [
        "images/fake/newgan/f0.png,1,human_faces",
        "images/fake/newgan/f1.png,1,human_faces",
    ]


def test_artifact_empty_trailing_columns_are_not_a_repeated_column(tmp_path: Path) -> None:
    rows = ["images/000.png,1,x,,", "images/001.png,1,x,,"]
    result = read_source(_generator_folder(tmp_path, "image_path,target,category,,", rows, count=2), "/")

    assert len(result.rows) == 2 and not result.quarantine
