"""Manifest: quarantine of hostile files, leakage-free stable splits, duplicates, cached re-ingest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from tree_builders import (
    make_artifact_folder,
    random_image,
    write_corrupt_png,
    write_huge_png,
    write_metadata,
    write_png,
    write_truncated_jpeg,
)

from facetransfer.ingestion.errors import SourceNotFoundError
from facetransfer.ingestion.manifest import MANIFEST_COLUMNS, ManifestResult, build_manifest
from facetransfer.ingestion.splitting import SPLITS, assign_splits, group_keys


def _folder_source(name: str, path: Path, role: str = "auto") -> dict[str, str]:
    return {"name": name, "format": "folder", "path": str(path), "role": role}


def test_each_bad_file_is_quarantined_with_its_reason_and_nothing_crashes(tmp_path: Path) -> None:
    tree = tmp_path / "mine"
    for index in range(5):
        write_png(tree / "real" / "cam" / f"good{index}.png", random_image(index))
    write_corrupt_png(tree / "real" / "cam" / "corrupt.png")
    write_truncated_jpeg(tree / "real" / "cam" / "truncated.jpg")
    (tree / "real" / "cam" / "notes.png").write_text("this is not an image")
    write_huge_png(tree / "real" / "cam" / "bomb.png")
    artifact = tmp_path / "gen"
    make_artifact_folder(artifact, 3, target=1, seed=7)
    write_png(tmp_path / "outside.png", random_image(99))
    write_metadata(
        artifact, [("images/000.png", 1), ("images/001.png", 1), ("images/002.png", 1), ("../outside.png", 1)]
    )
    sources = [
        _folder_source("mine", tree),
        {"name": "gen", "format": "artifact", "path": str(artifact), "role": "fake"},
    ]
    result = build_manifest(sources, root=tmp_path)
    assert len(result.manifest) == 8
    reasons = {Path(row.path).name: (row.check, row.reason) for row in result.quarantine.itertuples()}
    assert reasons["corrupt.png"][0] == "corrupt_image" and "PNG" in reasons["corrupt.png"][1]
    assert reasons["truncated.jpg"][0] == "truncated_image"
    assert reasons["notes.png"][0] == "not_an_image"
    assert reasons["bomb.png"][0] == "image_too_large" and "30000x30000" in reasons["bomb.png"][1]
    assert reasons["outside.png"][0] == "path_escapes_root" and "../outside.png" in reasons["outside.png"][1]
    checks = ("corrupt_image", "image_too_large", "not_an_image", "path_escapes_root", "truncated_image")
    assert result.report["quarantine_by_check"] == dict.fromkeys(checks, 1)


def test_pixel_limit_is_a_per_call_setting(tmp_path: Path) -> None:
    write_png(tmp_path / "x" / "a.png", random_image(1, size=64))
    strict = build_manifest(
        [_folder_source("x", tmp_path / "x", "real")], root=tmp_path, max_image_pixels=1000
    )
    assert list(strict.quarantine["check"]) == ["image_too_large"]
    assert len(build_manifest([_folder_source("x", tmp_path / "x", "real")], root=tmp_path).manifest) == 1


def test_duplicates_across_sources_share_a_split_and_are_counted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for index in range(40):
        write_png(tmp_path / "a" / f"{index}.png", random_image(index))
        shutil.copyfile(tmp_path / "a" / f"{index}.png", tmp_path / "b" / f"copy{index}.png")
    sources = [_folder_source("a", tmp_path / "a", "real"), _folder_source("b", tmp_path / "b", "real")]
    result = build_manifest(sources, root=tmp_path, seed=3)
    assert result.report["duplicates"] == {"groups": 40, "rows": 80, "cross_source_groups": 40}
    assert (result.manifest.groupby("sha256")["split"].nunique() == 1).all()
    assert set(result.manifest["split"]) == set(SPLITS)


def test_identical_file_labelled_real_and_fake_is_quarantined(tmp_path: Path) -> None:
    write_png(tmp_path / "real" / "cam" / "x.png", random_image(1))
    write_png(tmp_path / "real" / "cam" / "y.png", random_image(2))
    (tmp_path / "fake" / "gan").mkdir(parents=True)
    shutil.copyfile(tmp_path / "real" / "cam" / "x.png", tmp_path / "fake" / "gan" / "x.png")
    result = build_manifest([_folder_source("mixed", tmp_path)], root=tmp_path)
    assert list(result.manifest["path"].map(lambda p: Path(p).name)) == ["y.png"]
    assert sorted(result.quarantine["check"]) == ["label_conflict", "label_conflict"]
    assert result.report["label_conflicts"] == 2


def test_reingest_of_an_unchanged_tree_hashes_nothing_and_a_change_rehashes_one_file(tmp_path: Path) -> None:
    for index in range(6):
        write_png(tmp_path / "x" / f"{index}.png", random_image(index))
    write_corrupt_png(tmp_path / "x" / "bad.png")
    sources, cache = [_folder_source("x", tmp_path / "x", "real")], tmp_path / "cache"
    cold = build_manifest(sources, root=tmp_path, cache_dir=cache)
    assert cold.report["hashing"]["hashed_files"] == 7
    warm = build_manifest(sources, root=tmp_path, cache_dir=cache)
    assert warm.report["hashing"] == {"hashed_files": 0, "cache_hits": 7}
    pd.testing.assert_frame_equal(cold.manifest, warm.manifest)
    pd.testing.assert_frame_equal(cold.quarantine, warm.quarantine)
    write_png(tmp_path / "x" / "2.png", random_image(200))
    changed = build_manifest(sources, root=tmp_path, cache_dir=cache)
    assert changed.report["hashing"]["hashed_files"] == 1
    assert changed.report["fingerprints"]["x"] != cold.report["fingerprints"]["x"]


def test_existing_files_keep_their_split_when_a_generator_is_added(tmp_path: Path) -> None:
    make_artifact_folder(tmp_path / "ffhq", 30, target=0, seed=1)
    make_artifact_folder(tmp_path / "gan_a", 30, target=1, seed=2)
    source = [{"name": "artifact", "format": "artifact", "path": str(tmp_path), "real": ["ffhq"]}]
    before = build_manifest(source, root=tmp_path).manifest.set_index("path")["split"]
    make_artifact_folder(tmp_path / "gan_b", 30, target=1, seed=3)
    after = build_manifest(source, root=tmp_path)
    assert set(after.manifest["generator"].dropna()) == {"gan_a", "gan_b"}  # picked up with no config change
    pd.testing.assert_series_equal(after.manifest.set_index("path")["split"].loc[before.index], before)
    assert before.index.isin(after.manifest["path"]).all()


def test_identities_never_cross_splits_and_link_transitively() -> None:
    frame = pd.DataFrame(
        {
            "sha256": [f"h{i}" for i in range(200)] + ["h0"],
            "identity": [f"p{i // 4}" for i in range(200)] + ["q"],
        }
    )
    frame["split"] = assign_splits(frame, seed=0)
    assert (frame.groupby("identity")["split"].nunique() == 1).all()
    assert frame.loc[200, "split"] == frame.loc[0, "split"]  # q is linked to p0 through the shared hash h0
    keys = group_keys(frame)
    assert keys[200] == keys[0] == keys[3] == "identity:p0"  # the group's smallest member key
    shuffled = frame.sample(frac=1, random_state=1)
    assert group_keys(shuffled).sort_index().equals(keys)  # row order does not matter
    assert 0.5 < (frame["split"] == "train").mean() < 0.9
    assert not frame["split"].equals(assign_splits(frame, seed=1))


def test_without_split_ratios_the_split_is_left_for_later(tmp_path: Path) -> None:
    write_png(tmp_path / "x" / "a.png", random_image(1))
    result = build_manifest([_folder_source("x", tmp_path / "x", "real")], root=tmp_path, split_ratios=None)
    assert result.manifest["split"].tolist() == [None]
    assert result.report["split_ratios"] is None and result.report["counts"]["by_stratum"] == []


def test_bad_split_ratios_and_missing_sources_fail_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split_ratios"):
        build_manifest([], root=tmp_path, split_ratios=(0.8, 0.3, 0.1))
    with pytest.raises(SourceNotFoundError) as raised:
        build_manifest(
            [_folder_source("a", tmp_path / "nope", "real"), _folder_source("b", "gone", "real")],
            root=tmp_path,
        )
    assert "nope" in str(raised.value) and "gone" in str(raised.value)


def test_result_round_trips_through_files(tmp_path: Path, demo_manifest: ManifestResult) -> None:
    demo_manifest.write(tmp_path / "out")
    again = ManifestResult.read(tmp_path / "out")
    assert list(again.manifest.columns) == list(MANIFEST_COLUMNS)
    pd.testing.assert_frame_equal(again.manifest, demo_manifest.manifest)
    pd.testing.assert_frame_equal(again.quarantine, demo_manifest.quarantine)
    assert again.report["fingerprints"] == demo_manifest.report["fingerprints"]
