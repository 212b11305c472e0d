"""Decoding in threads: no lock serialises decodes, and Pillow's own pixel limit stays off."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facetransfer.imaging import decoding
from facetransfer.inputs.datasets import DetectionDataset
from facetransfer.inputs.preprocessing import Preprocessing

WAIT_SECONDS = 5.0
"""How long the first decode waits for the second; passing runs never wait for it."""


def _write_images(folder: Path, count: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"{index}.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return pd.DataFrame({"path": paths, "label": [index % 2 for index in range(count)]})


def test_preload_decodes_one_image_while_another_is_still_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first image's decode cannot finish before the second image's decode has: with a lock
    # held through decoding (as before), the second would wait for the first and the first
    # would give up after WAIT_SECONDS.
    frame = _write_images(tmp_path, 2)
    first, second = frame["path"]
    second_decoded = threading.Event()
    real_to_rgb_array = decoding.to_rgb_array

    def to_rgb_array_in_step(image: Image.Image, *, name: str = "image") -> np.ndarray:
        if name == first and not second_decoded.wait(WAIT_SECONDS):
            raise AssertionError(f"{second} was not decoded while {first} was being decoded")
        pixels = real_to_rgb_array(image, name=name)
        if name == second:
            second_decoded.set()
        return pixels

    monkeypatch.setattr(decoding, "to_rgb_array", to_rgb_array_in_step)
    dataset = DetectionDataset(frame, preprocessing=Preprocessing(32), cache="memory")
    dataset.preload(threads=2)
    assert second_decoded.is_set()
    assert all(dataset.decoded(index)[0].shape == (32, 32, 3) for index in range(2))


def test_decoding_turns_pillows_limit_off_again_when_something_restored_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our limit allows the image; Pillow's (set by some other code) would refuse it.
    path = _write_images(tmp_path, 1)["path"][0]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert decoding.decode_rgb(path, max_pixels=64 * 64).shape == (64, 64, 3)
    assert Image.MAX_IMAGE_PIXELS is None
    with pytest.raises(decoding.ImageTooLargeError, match="exceeds the limit of 4095"):
        decoding.decode_rgb(path, max_pixels=64 * 64 - 1)
