"""Datasets and augmentation: decoding, normalisation, label swap on flip, affine mask safety, seeding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from facetransfer.classes import MUT1NY_14, UNKNOWN_CLASS
from facetransfer.inputs.datasets import DetectionDataset, SegmentationDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.inputs.transforms import (
    IMAGENET_MEAN,
    HorizontalFlipWithLabelSwap,
    build_segmentation_augmentation,
)

BACKBONE = "mobilenet_v3_large"
PRE64 = Preprocessing.for_backbone(BACKBONE, 64)
PRE32 = Preprocessing.for_backbone("resnet50", 32)
PAIRS = [("left_eye", "right_eye"), ("left_ear", "right_ear"), ("left_eyebrow", "right_eyebrow")]


def test_segmentation_sample_matches_the_written_files(write_segmentation_data: Callable) -> None:
    frame = write_segmentation_data(2, size=64)
    dataset = SegmentationDataset(frame, preprocessing=PRE64, scheme=MUT1NY_14, augment=False)
    image, mask = dataset[1]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert mask.shape == (64, 64) and mask.dtype == torch.int64
    written = MUT1NY_14.decode_mask(np.asarray(Image.open(frame.loc[1, "mask_path"]).convert("RGB")))
    assert np.array_equal(mask.numpy(), written.class_ids)
    # Normalised with ImageNet statistics: undo it and compare with the file.
    pixels = np.asarray(Image.open(frame.loc[1, "path"]), dtype=np.float32) / 255.0
    assert torch.allclose(image[0] * 0.229 + IMAGENET_MEAN[0], torch.from_numpy(pixels[..., 0]), atol=1e-5)


def test_resizing_keeps_mask_ids_and_index_encoding_is_read(
    write_segmentation_data: Callable, tmp_path: Path
) -> None:
    frame = write_segmentation_data(1, size=96)
    ids = MUT1NY_14.decode_mask(np.asarray(Image.open(frame.loc[0, "mask_path"]).convert("RGB"))).class_ids
    index_path = tmp_path / "index_mask.png"
    Image.fromarray(ids).save(index_path)
    frame = pd.concat(
        [frame, frame.assign(mask_path=str(index_path), mask_encoding="index")], ignore_index=True
    )
    dataset = SegmentationDataset(frame, preprocessing=PRE64, scheme=MUT1NY_14, augment=False)
    colour_mask, index_mask = dataset[0][1], dataset[1][1]
    assert torch.equal(colour_mask, index_mask)
    assert set(colour_mask.unique().tolist()) <= set(np.unique(ids).tolist())


def test_unknown_mask_colours_stay_unknown_through_augmentation(write_segmentation_data: Callable) -> None:
    # Ingestion keeps such masks only under a source's unknown_color_tolerance; the dataset keeps
    # the pixels as UNKNOWN_CLASS (ignored by loss and metrics), through flips and warps.
    frame = write_segmentation_data(1)
    rgb = np.asarray(Image.open(frame.loc[0, "mask_path"]).convert("RGB")).copy()
    rgb[30:34, 2:6] = (1, 2, 3)
    Image.fromarray(rgb).save(frame.loc[0, "mask_path"])
    plain = SegmentationDataset(frame, preprocessing=PRE64, scheme=MUT1NY_14, augment=False)
    assert (plain[0][1][30:34, 2:6] == UNKNOWN_CLASS).all()
    augmented = SegmentationDataset(frame, preprocessing=PRE64, scheme=MUT1NY_14, augment=True)
    seen = set()
    for epoch in range(8):
        augmented.set_epoch(epoch)
        seen |= set(augmented[0][1].unique().tolist())
    assert UNKNOWN_CLASS in seen and seen <= set(range(MUT1NY_14.num_classes)) | {UNKNOWN_CLASS}


def test_flip_swaps_left_and_right_classes() -> None:
    mask = np.zeros((8, 16), dtype=np.uint8)
    for row, (left, right) in enumerate(PAIRS):
        mask[row, 1:3] = MUT1NY_14.id_of(left)
        mask[row, 13:15] = MUT1NY_14.id_of(right)
    mask[6, 0:4] = MUT1NY_14.id_of("nose")
    image = np.zeros((8, 16, 3), dtype=np.uint8)
    image[:, :8] = 255
    flip = HorizontalFlipWithLabelSwap(MUT1NY_14.flip_lookup_table(), p=1.0)
    result = flip(image=image, mask=mask)
    flipped = result["mask"]
    for row, (left, right) in enumerate(PAIRS):
        assert (flipped[row, 13:15] == MUT1NY_14.id_of(right)).all(), left  # was left, on the left
        assert (flipped[row, 1:3] == MUT1NY_14.id_of(left)).all(), right
    assert (flipped[6, 12:16] == MUT1NY_14.id_of("nose")).all()
    assert (result["image"][:, 8:] == 255).all() and (result["image"][:, :8] == 0).all()


def test_affine_augmentation_keeps_mask_values_within_the_class_set(
    write_segmentation_data: Callable,
) -> None:
    frame = write_segmentation_data(1)
    dataset = SegmentationDataset(frame, preprocessing=PRE64, scheme=MUT1NY_14, augment=False)
    image, mask = dataset.decoded(0)
    original_ids = set(np.unique(mask).tolist())
    allowed = original_ids | {int(MUT1NY_14.flip_lookup_table()[i]) for i in original_ids}
    augmentation = build_segmentation_augmentation(MUT1NY_14)
    changed = 0
    for seed in range(20):
        augmentation.set_random_seed(seed)
        result = augmentation(image=image, mask=mask)
        assert result["mask"].dtype == np.uint8 and result["mask"].shape == mask.shape
        assert set(np.unique(result["mask"]).tolist()) <= allowed
        changed += not np.array_equal(result["mask"], mask)
    assert changed >= 18


def test_augmentation_is_reproducible_per_seed_and_epoch(write_segmentation_data: Callable) -> None:
    frame = write_segmentation_data(3)
    first, second = (
        SegmentationDataset(frame, preprocessing=PRE64, scheme=MUT1NY_14, augment=True, seed=5)
        for _ in range(2)
    )
    first.set_epoch(1)
    second.set_epoch(1)
    assert torch.equal(first[2][0], second[2][0]) and torch.equal(first[2][1], second[2][1])
    second.set_epoch(2)
    assert not torch.equal(first[2][0], second[2][0])


def test_cache_decodes_each_file_once(write_segmentation_data: Callable) -> None:
    frame = write_segmentation_data(2)
    cached, uncached = (
        SegmentationDataset(frame, preprocessing=PRE64, scheme=MUT1NY_14, augment=True, cache=cache)
        for cache in ("memory", "none")
    )
    cached.preload()
    for path in [*frame["path"], *frame["mask_path"]]:
        Path(path).unlink()
    image, mask = cached[1]  # served from memory, augmentation still applied
    assert image.shape == (3, 64, 64) and mask.shape == (64, 64)
    with pytest.raises(OSError, match=r"001\.png"):
        uncached[1]


def test_detection_dataset_labels_and_validation(write_detection_data: Callable) -> None:
    frame = write_detection_data(4)
    dataset = DetectionDataset(frame, preprocessing=PRE32)
    image, label = dataset[1]
    assert image.shape == (3, 32, 32) and label.item() == 1.0 and dataset[0][1].item() == 0.0
    with pytest.raises(ValueError, match="0 \\(real\\) or 1 \\(fake\\)"):
        DetectionDataset(frame.assign(label=2), preprocessing=PRE32)
    with pytest.raises(ValueError, match="label"):
        DetectionDataset(frame.drop(columns="label"), preprocessing=PRE32)
