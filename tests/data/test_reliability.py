"""Bad input that used to abort or slip through: mask bombs, target mismatches, unlisted files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from tree_builders import (
    make_artifact_folder,
    random_image,
    write_blank_palette_png,
    write_metadata,
    write_png,
)

from facetransfer.classes import MUT1NY_14
from facetransfer.config import DataSettings
from facetransfer.imaging.checks import inspect_mask_file
from facetransfer.ingestion.manifest import build_manifest
from facetransfer.workflow.ingestion import ingest


def mut1ny_tree(folder: Path, count: int) -> None:
    entries = []
    for index in range(count):
        write_png(folder / "images" / f"p{index}.png", random_image(index))
        write_png(
            folder / "labels" / f"p{index}.png", MUT1NY_14.encode_mask(random_image(index)[..., 0] % 14)
        )
        entries.append(f'<srcimg name="images\\p{index}.png"/><labelimg name="labels\\p{index}.png"/>')
    (folder / "training.xml").write_text("<d>" + "".join(entries) + "</d>", encoding="utf-8")


def test_mask_bomb_is_quarantined_from_its_header_and_the_other_pairs_kept(tmp_path: Path) -> None:
    mut1ny_tree(tmp_path / "m", 3)
    bomb = write_blank_palette_png(tmp_path / "m" / "labels" / "p1.png", 20_000, 20_000)
    assert bomb.stat().st_size < 100_000  # 400 million pixels in a few tens of KB
    sources = [{"name": "m", "format": "mut1ny", "path": str(tmp_path / "m")}]
    result = build_manifest(sources, root=tmp_path, cache_dir=tmp_path / "cache")
    assert sorted(Path(path).name for path in result.manifest["path"]) == ["p0.png", "p2.png"]
    (entry,) = result.quarantine.itertuples()
    assert entry.check == "image_too_large" and entry.path.endswith("images/p1.png")
    assert f"mask {bomb}" in entry.reason and "20000x20000" in entry.reason
    again = build_manifest(sources, root=tmp_path, cache_dir=tmp_path / "cache")
    assert again.report["hashing"]["hashed_files"] == 0 and list(again.quarantine["check"]) == [
        "image_too_large"
    ]


def test_a_mask_whose_header_size_differs_from_its_image_is_not_decoded(tmp_path: Path) -> None:
    mask = write_blank_palette_png(tmp_path / "big.png", 6000, 6000)  # under the pixel limit
    facts = inspect_mask_file(mask, encoding="color", scheme=MUT1NY_14, expected_size=(16, 16))
    assert (facts.width, facts.height, facts.decoded, facts.check) == (6000, 6000, False, None)
    small = write_png(tmp_path / "small.png", MUT1NY_14.encode_mask(random_image(1)[..., 0] % 14))
    decoded = inspect_mask_file(small, encoding="color", scheme=MUT1NY_14, expected_size=(16, 16))
    assert decoded.decoded and decoded.unknown_pixels == 0


def _artifact_settings(tmp_path: Path) -> DataSettings:
    detection = [{"name": "artifact", "format": "artifact", "path": "artifact", "real": ["ffhq"]}]
    segmentation = [{"name": "unused", "format": "mut1ny", "path": "unused"}]
    return DataSettings(segmentation_sources=segmentation, detection_sources=detection, cache_dir="cache")


def test_target_mismatches_are_quarantined_and_every_source_report_is_returned(tmp_path: Path) -> None:
    make_artifact_folder(tmp_path / "artifact" / "ffhq", 2, target=0, seed=1)
    make_artifact_folder(tmp_path / "artifact" / "gan", 3, target=1, seed=2)
    write_metadata(
        tmp_path / "artifact" / "gan", [("images/000.png", 1), ("images/001.png", 0), ("images/002.png", 1)]
    )
    manifest, quarantine, report = ingest(_artifact_settings(tmp_path), "detection", base=tmp_path)
    assert not manifest["path"].str.endswith("gan/images/001.png").any(), "not kept under the folder's label"
    (row,) = quarantine.itertuples()
    assert (
        row.check == "target_mismatch" and row.path.endswith("gan/images/001.png") and "line 3" in row.reason
    )
    folder_report = report["sources"]["artifact"]["folders"]["gan"]
    assert folder_report["target_mismatches"] == 1
    assert folder_report["mismatch_examples"] == [{"image_path": "images/001.png", "target": "0", "label": 1}]
    json.dumps(report)  # logged to MLflow as JSON by the ingestion step


def test_files_missing_from_metadata_are_listed_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_artifact_folder(tmp_path / "artifact" / "ffhq", 2, target=0, seed=1)
    make_artifact_folder(tmp_path / "artifact" / "gan", 2, target=1, seed=2)
    for name in ("extra_b.png", "extra_a.png"):
        write_png(tmp_path / "artifact" / "gan" / "images" / name, random_image(len(name)))
    with caplog.at_level(logging.WARNING, logger="facetransfer.ingestion.readers.artifact"):
        manifest, _, report = ingest(_artifact_settings(tmp_path), "detection", base=tmp_path)
    folder_report = report["sources"]["artifact"]["folders"]["gan"]
    assert folder_report["unlisted_files"] == 2
    assert folder_report["unlisted_examples"] == ["images/extra_a.png", "images/extra_b.png"]
    assert "2 image file(s) not listed in metadata.csv" in caplog.text and "extra_a.png" in caplog.text
    assert len(manifest) == 4
