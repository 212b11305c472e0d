"""The detectors' horizontal flip keeps a generator's up-sampling grid (issue 17, item 1).

Mirroring an image of even width moves column ``x`` to ``W - 1 - x``, of the other parity: a
period-2 up-sampling trace comes out inverted, which kept detectors at the ln 2 plateau.
"""

from __future__ import annotations

import albumentations as A  # noqa: N812 (conventional alias)
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facetransfer.inputs.datasets import DetectionDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.inputs.transforms import GridAlignedHorizontalFlip, build_detection_augmentation
from facetransfer.training import TrainConfig


def _flip(image: np.ndarray, transform: A.BasicTransform) -> np.ndarray:
    return A.Compose([transform])(image=image)["image"]


def _trace(width: int, height: int = 6) -> np.ndarray:
    """A period-2 column trace (+20 on even columns, -20 on odd ones) on mid grey."""
    row = np.where(np.arange(width) % 2 == 0, 148, 108).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)


def test_grid_flip_keeps_the_sign_of_a_period_two_trace_that_a_plain_mirror_inverts() -> None:
    trace = _trace(64)
    assert np.array_equal(_flip(trace, GridAlignedHorizontalFlip(p=1.0)), trace)
    mirrored = _flip(trace, A.HorizontalFlip(p=1.0))
    assert np.array_equal(mirrored.astype(int), 256 - trace.astype(int)), (
        "a plain mirror inverts the trace (what the flip fixes)"
    )


def test_grid_flip_mirrors_the_content_shifted_by_one_column() -> None:
    width = 10
    ramp = np.repeat(np.repeat((np.arange(width) * 20)[None, :, None], 4, axis=0), 3, axis=2).astype(np.uint8)
    flipped = _flip(ramp, GridAlignedHorizontalFlip(p=1.0))[0, :, 0]
    source_columns = [width - 2] + [width - x for x in range(1, width)]  # x <- W - x; edge reflected
    assert flipped.tolist() == [20 * c for c in source_columns]
    assert all(c % 2 == x % 2 for x, c in enumerate(source_columns)), "every pixel keeps its column parity"


def test_odd_widths_keep_parity_under_a_plain_mirror_and_are_not_shifted() -> None:
    trace = _trace(65)
    assert np.array_equal(_flip(trace, GridAlignedHorizontalFlip(p=1.0)), trace[:, ::-1])
    assert np.array_equal(trace[:, ::-1], trace)


def test_detection_augmentation_flip_modes() -> None:
    def flips(mode: str) -> list[type]:
        return [type(t) for t in build_detection_augmentation(horizontal_flip=mode).transforms]

    assert flips("grid") == [GridAlignedHorizontalFlip]
    assert flips("mirror") == [A.HorizontalFlip]
    assert flips("none") == []
    with pytest.raises(ValueError, match="horizontal_flip must be one of"):
        build_detection_augmentation(horizontal_flip="sideways")
    with pytest.raises(ValueError, match="horizontal_flip"):
        TrainConfig(horizontal_flip="sideways")
    assert TrainConfig().horizontal_flip == "grid", "detectors flip on the grid unless told otherwise"


def test_training_samples_keep_the_trace_on_every_draw(tmp_path) -> None:
    # Through the dataset that trains detectors: every augmented draw (flipped or not) of a traced
    # fake keeps the trace's sign; with the plain mirror about half the draws invert it.
    path = tmp_path / "fake.png"
    Image.fromarray(_trace(64, 64)).save(path)
    frame = pd.DataFrame({"path": [str(path)], "label": [1]})
    preprocessing = Preprocessing.for_backbone("mobilenet_v3_large", 64)

    def signs(mode: str) -> list[float]:
        dataset = DetectionDataset(frame, preprocessing=preprocessing, augment=True, horizontal_flip=mode)
        found = []
        for epoch in range(16):
            dataset.set_epoch(epoch)
            image, _ = dataset[0]
            columns = image[0].mean(dim=0)
            found.append(float(columns[0::2].mean() - columns[1::2].mean()))
        return found

    assert all(sign > 0 for sign in signs("grid"))
    inverted = sum(sign < 0 for sign in signs("mirror"))
    assert 0 < inverted < 16
