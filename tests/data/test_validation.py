"""great-expectations suites: good data passes, each broken property fails under its expectation's name."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tree_builders import write_png

from facetransfer.classes import MUT1NY_14
from facetransfer.ingestion.manifest import ManifestResult
from facetransfer.validation import (
    DataValidationError,
    ValidationBounds,
    mask_statistics,
    validate_detection_manifest,
    validate_segmentation_data,
)
from facetransfer.validation.data_docs import build_data_docs


@pytest.fixture(scope="module")
def detection(demo_manifest: ManifestResult) -> pd.DataFrame:
    frame = demo_manifest.manifest
    return frame[frame["mask_path"].isna()].reset_index(drop=True)


@pytest.fixture(scope="module")
def segmentation(demo_manifest: ManifestResult) -> pd.DataFrame:
    frame = demo_manifest.manifest
    return frame[frame["mask_path"].notna()].reset_index(drop=True)


def test_good_detection_manifest_passes_and_reports(detection: pd.DataFrame, tmp_path: Path) -> None:
    result = validate_detection_manifest(detection)
    assert result.success, result.failure_message()
    assert len(result.outcomes) == 13 and not result.failed
    json.dumps(result.summary)
    result.raise_for_failure()


def _text(page: Path) -> str:
    """The words a reader sees on an HTML page (no styles, scripts or tags)."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_data_docs_show_every_table_and_the_failed_expectation(
    detection: pd.DataFrame, tmp_path: Path
) -> None:
    bounds = ValidationBounds(min_images_per_generator=10_000)
    result = validate_detection_manifest(detection, bounds)
    index = build_data_docs(result, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    pages = {page.stem: _text(page) for page in (tmp_path / "site" / "validations").rglob("*.html")}
    assert set(pages) == {"manifest", "splits"}
    failed = next(o for o in result.outcomes if o.name == "generator_min_images")
    passed = next(o for o in result.outcomes if o.name == "sha256_in_one_split")
    assert "Status: Failed" in pages["manifest"] and failed.description in pages["manifest"]
    assert "Status: Succeeded" in pages["splits"]
    everything = _text(index)
    assert failed.description in everything and passed.description in everything
    assert "Unsuccessful Expectations 1 " in everything


def _set(column: str, value: object, rows: slice = slice(0, 1)) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame.index[rows], column] = value
        return frame

    return mutate


def _leak(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        first = frame.index[frame["split"] == "train"][0]
        other = frame.index[frame["split"] == "test"][0]
        frame.loc[other, column] = frame.loc[first, column]
        return frame

    return mutate


def _drop(
    condition: Callable[[pd.DataFrame], pd.Series], keep: int = 0
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        matching = frame.index[condition(frame)]
        return frame.drop(index=matching[keep:])

    return mutate


BROKEN_DETECTION = {
    "path_not_null": _set("path", None),
    "sha256_not_null": _set("sha256", None),
    "label_binary": _set("label", 2),
    "width_in_bounds": _set("width", 10),
    "height_in_bounds": _set("height", 5000),
    "mode_allowed": _set("mode", "F"),
    "split_known": _set("split", "holdout"),
    "sha256_in_one_split": _leak("sha256"),
    "identity_in_one_split": _leak("identity"),
    "split_has_both_labels": _drop(lambda f: (f["split"] == "test") & (f["label"] == 1)),
    "real_fake_ratio_in_bounds": _drop(lambda f: f["label"] == 1, keep=20),
    "generator_min_images": _drop(lambda f: f["generator"] == "tconv", keep=5),
    "source_min_images": _drop(lambda f: f["source"] == "ffhq", keep=5),
}


@pytest.mark.parametrize("expectation", sorted(BROKEN_DETECTION))
def test_each_broken_detection_property_fails_by_name(detection: pd.DataFrame, expectation: str) -> None:
    broken = BROKEN_DETECTION[expectation](detection.copy())
    result = validate_detection_manifest(broken)
    assert not result.success
    assert expectation in {outcome.name for outcome in result.failed}


def test_failure_message_lists_expectation_and_example_rows(detection: pd.DataFrame) -> None:
    broken = _set("width", 10)(detection.copy())
    with pytest.raises(DataValidationError) as raised:
        validate_detection_manifest(broken).raise_for_failure()
    message = str(raised.value)
    assert "width_in_bounds" in message and broken.loc[0, "path"] in message and '"width": 10' in message
    assert raised.value.result.failed[0].unexpected_count == 1


def test_quarantine_instead_of_fail_removes_the_offending_rows(detection: pd.DataFrame) -> None:
    broken = _set("mode", "F", slice(0, 2))(detection.copy())
    result = validate_detection_manifest(broken, ValidationBounds(quarantine_instead_of_fail=True))
    assert result.success
    assert list(result.quarantine["expectation"]) == ["mode_allowed", "mode_allowed"]
    assert len(result.frame) == len(detection) - 2
    assert result.summary["quarantined_by_expectation"] == {"mode_allowed": 2}


def test_aggregate_failures_are_not_quarantined_away(detection: pd.DataFrame) -> None:
    broken = _drop(lambda f: f["label"] == 1, keep=20)(detection.copy())
    result = validate_detection_manifest(broken, ValidationBounds(quarantine_instead_of_fail=True))
    assert not result.success and "real_fake_ratio_in_bounds" in {o.name for o in result.failed}


def test_good_segmentation_data_passes(segmentation: pd.DataFrame) -> None:
    stats = mask_statistics(segmentation, MUT1NY_14)
    assert len(stats) == len(segmentation) and stats["face_present"].all()
    assert stats.filter(like="share_").sum(axis=1).round(6).eq(1.0).all()
    result = validate_segmentation_data(segmentation, stats)
    assert result.success, result.failure_message()


def _rewrite_masks(
    frame: pd.DataFrame, rows: list[int], folder: Path, edit: Callable[[np.ndarray], None]
) -> None:
    from PIL import Image

    for row in rows:
        rgb = np.array(Image.open(frame.loc[row, "mask_path"]).convert("RGB"))
        edit(rgb)
        frame.loc[row, "mask_path"] = str(write_png(folder / f"{row}.png", rgb))


def test_unknown_colours_size_mismatch_and_missing_faces_fail_by_name(
    segmentation: pd.DataFrame, tmp_path: Path
) -> None:
    broken = segmentation.copy()
    _rewrite_masks(broken, [0], tmp_path / "colour", lambda rgb: rgb.__setitem__((3, 3), (1, 2, 3)))
    _rewrite_masks(broken, list(range(1, 9)), tmp_path / "noface", lambda rgb: rgb.__setitem__(..., 0))
    broken.loc[9, "width"] = 32
    failed = {outcome.name for outcome in validate_segmentation_data(broken).failed}
    assert {"no_unknown_mask_colors", "mask_size_matches_image", "face_present"} <= failed


def test_class_share_bounds_and_segmentation_quarantine(segmentation: pd.DataFrame, tmp_path: Path) -> None:
    strict = ValidationBounds(class_share_bounds={"face": (0.9, 1.0)})
    assert [o.name for o in validate_segmentation_data(segmentation, bounds=strict).failed] == [
        "class_share_face"
    ]
    broken = segmentation.copy()
    _rewrite_masks(broken, [0, 1], tmp_path / "colour", lambda rgb: rgb.__setitem__((0, 0), (9, 9, 9)))
    result = validate_segmentation_data(broken, bounds=ValidationBounds(quarantine_instead_of_fail=True))
    assert result.success
    assert sorted(result.quarantine.index) == [0, 1]
    assert set(result.quarantine["expectation"]) == {"no_unknown_mask_colors"}


def test_unknown_color_tolerance_works_from_ingestion_to_training_batches(tmp_path: Path) -> None:
    # A Mut1ny tree whose masks hold a few pixels of a colour outside the palette, under the
    # source's tolerance: ingestion keeps them, GX passes them (the bound is the tolerance), the
    # dataset keeps them as UNKNOWN_CLASS through the flip, and the loss ignores them.
    import torch
    from PIL import Image

    from facetransfer.classes import UNKNOWN_CLASS
    from facetransfer.demo import DemoOptions, generate_demo_data
    from facetransfer.ingestion.manifest import build_manifest
    from facetransfer.ingestion.sources import SourceConfig
    from facetransfer.inputs.datasets import SegmentationDataset
    from facetransfer.inputs.preprocessing import Preprocessing
    from facetransfer.training.losses import segmentation_criterion

    options = DemoOptions(
        image_size=32, segmentation_images=24, real_images={"ffhq": 2}, fake_images_per_generator=2
    )
    generate_demo_data(tmp_path / "data", options)
    tree = tmp_path / "data" / "segmentation"
    masks = sorted((tree / "labels").glob("*.png"))
    for path, side in zip(masks[:2], (3, 4), strict=True):  # 9 and 16 unknown pixels
        rgb = np.array(Image.open(path).convert("RGB"))
        rgb[15 : 15 + side, 15 : 15 + side] = (1, 2, 3)
        Image.fromarray(rgb).save(path)
    source = SourceConfig(name="mut1ny", format="mut1ny", path=str(tree), unknown_color_tolerance=12)
    result = build_manifest([source], root="/", split_ratios=(0.7, 0.15, 0.15), cache_dir=tmp_path / "c")
    quarantined = {
        Path(p).name: r for p, r in zip(result.quarantine["path"], result.quarantine["reason"], strict=True)
    }
    assert len(quarantined) == 1 and "16 pixels" in next(iter(quarantined.values()))
    frame = result.manifest
    kept = frame[frame["mask_path"] == str(masks[0])].index
    assert len(kept) == 1
    loose = ValidationBounds(class_share_bounds={}, min_images_per_source=1)
    passed = validate_segmentation_data(frame, bounds=loose, unknown_color_tolerances={"mut1ny": 12})
    assert passed.success, passed.failure_message()
    strict = validate_segmentation_data(frame, bounds=loose, unknown_color_tolerances={"mut1ny": 8})
    assert "no_unknown_mask_colors" in {outcome.name for outcome in strict.failed}

    row = frame.loc[kept]
    dataset = SegmentationDataset(
        row, preprocessing=Preprocessing.for_backbone("resnet50", 32), scheme=MUT1NY_14, augment=True
    )
    for epoch in range(4):  # flips included: no IndexError on class 255
        dataset.set_epoch(epoch)
        _, mask = dataset[0]
        assert (mask == UNKNOWN_CLASS).sum() > 0
    logits = torch.zeros(1, MUT1NY_14.num_classes, 32, 32, requires_grad=True)
    loss = segmentation_criterion(np.ones(MUT1NY_14.num_classes))(logits, mask[None])
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None
    ignored = mask == UNKNOWN_CLASS
    assert torch.all(logits.grad[0][:, ignored] == 0)


def test_masks_of_another_scheme_are_refused_before_training(segmentation: pd.DataFrame) -> None:
    from facetransfer.classes import get_scheme
    from facetransfer.config import DataSettings
    from facetransfer.validation import MaskSchemeMismatchError

    with pytest.raises(MaskSchemeMismatchError, match=r"mut1ny14.*mut1ny11"):
        validate_segmentation_data(segmentation, scheme=get_scheme("mut1ny11"))
    source = {"name": "m", "format": "mut1ny", "path": "data/segmentation", "scheme": "mut1ny14"}
    folder = {"name": "f", "format": "folder", "path": "x"}
    with pytest.raises(ValueError, match=r"'m' \(mut1ny14\).*data.class_scheme \(mut1ny11\)"):
        DataSettings(class_scheme="mut1ny11", segmentation_sources=[source], detection_sources=[folder])
