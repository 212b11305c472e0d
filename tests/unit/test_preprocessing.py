"""Real-format inputs: decoding policy (modes, 16-bit, EXIF), crop/resize preprocessing, mask
alignment, the on-disk sample cache. Files are made here at real sizes (1024 px JPEGs)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facetransfer.imaging.decoding import ImageDecodeError, UnsupportedImageModeError, decode_rgb
from facetransfer.inputs.datasets import DetectionDataset, ImageDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.inputs.sample_cache import SampleCache
from facetransfer.inputs.transforms import resize_image, resize_mask

BACKBONE = "mobilenet_v3_large"


def photo(size: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB image with fine texture (compresses like a photograph)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([180 * xx + 40, 160 * yy + 50, 120 * (1 - xx * yy) + 60], axis=2)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def save(image: Image.Image, path: Path, **options: object) -> Path:
    image.save(path, **options)
    return path


def test_sixteen_bit_grayscale_decodes_like_its_eight_bit_copy(tmp_path: Path) -> None:
    gray8 = photo(64)[..., 0]
    gray16 = gray8.astype(np.uint16) * 257  # the same picture at 16 bits
    path16 = save(Image.fromarray(gray16), tmp_path / "sixteen.png")
    assert Image.open(path16).mode == "I;16"
    decoded = decode_rgb(path16)
    assert decoded.dtype == np.uint8 and decoded.shape == (64, 64, 3)
    assert np.array_equal(decoded[..., 1], gray8)  # Pillow's convert("RGB") makes it all white
    assert np.array_equal(decode_rgb(save(Image.fromarray(gray8), tmp_path / "eight.png")), decoded)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK"])
def test_every_faithful_mode_decodes_to_rgb(tmp_path: Path, mode: str) -> None:
    rgb = Image.fromarray(photo(96))
    converted = rgb.convert(mode)
    path = save(converted, tmp_path / f"image.{'jpg' if mode == 'CMYK' else 'png'}", quality=95)
    decoded = decode_rgb(path)
    expected = np.asarray(converted.convert("RGB"), dtype=np.int16)
    assert decoded.shape == (96, 96, 3) and decoded.dtype == np.uint8
    tolerance = 6 if mode == "CMYK" else 0  # the CMYK file is a lossy JPEG
    assert np.abs(decoded.astype(np.int16) - expected).mean() <= tolerance


def test_unconvertible_modes_and_bad_files_name_the_file(tmp_path: Path) -> None:
    floats = io.BytesIO()
    Image.fromarray(np.ones((8, 8), dtype=np.float32)).save(floats, format="TIFF")
    with pytest.raises(UnsupportedImageModeError, match="mode 'F'"):
        decode_rgb(floats.getvalue())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageDecodeError, match=r"broken\.jpg"):
        decode_rgb(broken)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:, :40] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(Image.fromarray(image), tmp_path / "phone.jpg", exif=exif, quality=95)
    decoded = decode_rgb(path)
    assert decoded.shape == (80, 40, 3)  # shown upright: portrait
    assert decoded[:30].mean() > 200 and decoded[-30:].mean() < 50  # white half now on top


def test_crop_mode_keeps_native_pixels_and_resize_mode_does_not(tmp_path: Path) -> None:
    full = photo(1024)
    path = save(Image.fromarray(full), tmp_path / "face.png")
    crop = Preprocessing.for_backbone(BACKBONE, 256, "crop")
    stage = crop.load(path)
    assert stage.shape == (1024, 1024, 3)
    assert np.array_equal(crop.finish(stage), full[384:640, 384:640])  # centre crop, untouched pixels
    resized = Preprocessing.for_backbone(BACKBONE, 256).load(path)
    assert resized.shape == (256, 256, 3) and np.array_equal(resized, resize_image(full, 256))
    loaded = Preprocessing.for_backbone(BACKBONE, 256, "crop", load_size=512).load(path)
    assert loaded.shape == (512, 512, 3)


def test_crop_of_a_small_or_oblong_image_always_fits(tmp_path: Path) -> None:
    small = save(Image.fromarray(photo(200)), tmp_path / "artifact.png")  # ArtiFact images are 200 px
    oblong = save(Image.fromarray(photo(300)[:, :150]), tmp_path / "oblong.png")
    crop = Preprocessing.for_backbone(BACKBONE, 256, "crop")
    for path in (small, oblong):
        stage = crop.load(path)
        assert min(stage.shape[:2]) == 256
        assert crop.finish(stage).shape == (256, 256, 3)
        assert crop.finish(stage, np.random.default_rng(0)).shape == (256, 256, 3)


def test_training_crops_are_random_per_epoch_and_reproducible(tmp_path: Path) -> None:
    paths = [save(Image.fromarray(photo(320, seed)), tmp_path / f"{seed}.png") for seed in range(2)]
    frame = pd.DataFrame({"path": [str(p) for p in paths], "label": [0, 1]})
    crop = Preprocessing.for_backbone(BACKBONE, 64, "crop")
    first, second = (DetectionDataset(frame, preprocessing=crop, augment=True, seed=3) for _ in range(2))
    first.set_epoch(1)
    second.set_epoch(1)
    assert np.array_equal(first[0][0], second[0][0])
    second.set_epoch(2)
    assert not np.array_equal(first[0][0], second[0][0])
    evaluation = DetectionDataset(frame, preprocessing=crop, augment=False)
    centre = crop.normalize(photo(320, 0)[128:192, 128:192])
    assert np.allclose(evaluation[0][0].numpy(), centre)
    assert np.allclose(ImageDataset(frame, preprocessing=crop)[0][0].numpy(), centre)


@pytest.mark.parametrize(("source", "target"), [(16, 4), (1024, 448)])
def test_masks_stay_aligned_with_their_area_resized_image(source: int, target: int) -> None:
    # One labelled pixel per output row/column: at the centre sample of output pixel i. The
    # area-resized image has its bright pixel there; the resized mask must have its label there.
    scale = source / target
    positions = [0, target // 3, target - 1]
    for out_row in positions:
        for out_col in positions:
            row, col = int((out_row + 0.5) * scale), int((out_col + 0.5) * scale)
            mask = np.zeros((source, source), dtype=np.uint8)
            mask[row, col] = 7
            image = np.zeros((source, source, 3), dtype=np.uint8)
            image[row, col] = 255
            resized_mask = resize_mask(mask, target)
            bright = np.unravel_index(np.argmax(resize_image(image, target)[..., 0]), (target, target))
            assert resized_mask[out_row, out_col] == 7, (out_row, out_col)
            assert tuple(bright) == (out_row, out_col)
            old = cv2.resize(mask, (target, target), interpolation=cv2.INTER_NEAREST)
            if scale >= 2:
                assert old[out_row, out_col] != 7  # the old top-left sampling misses it


def test_disk_cache_is_keyed_by_content_and_preprocessing(tmp_path: Path) -> None:
    path = save(Image.fromarray(photo(512)), tmp_path / "a.jpg", quality=90)
    frame = pd.DataFrame(
        {"path": [str(path)], "label": [1], "sha256": ["abc123"], "width": [512], "height": [512]}
    )
    cache_dir = tmp_path / "samples"
    crop = Preprocessing.for_backbone(BACKBONE, 128, "crop", load_size=256)
    warm = DetectionDataset(frame, preprocessing=crop, cache="disk", cache_dir=cache_dir)
    warm.preload()
    stored = list(cache_dir.rglob("*.npy"))
    assert len(stored) == 1 and np.load(stored[0]).shape == (256, 256, 3)
    expected = warm[0][0]
    path.unlink()  # a second run (same content hash) decodes nothing
    again = DetectionDataset(frame, preprocessing=crop, cache="disk", cache_dir=cache_dir)
    assert np.array_equal(again[0][0], expected)
    other = Preprocessing.for_backbone(BACKBONE, 128)
    assert SampleCache.key("abc123", other.cache_key) != SampleCache.key("abc123", crop.cache_key)
    with pytest.raises(ImageDecodeError, match=r"a\.jpg"):
        DetectionDataset(frame, preprocessing=other, cache="disk", cache_dir=cache_dir)[0]
    with pytest.raises(ValueError, match="sha256"):
        DetectionDataset(frame.drop(columns="sha256"), preprocessing=crop, cache="disk", cache_dir=cache_dir)


def test_preprocessing_round_trips_and_rejects_bad_settings() -> None:
    settings = Preprocessing.for_backbone("resnet50", 256, "crop", load_size=512)
    assert Preprocessing.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="unknown preprocessing"):
        Preprocessing.from_dict({**settings.to_dict(), "flip": True})
    with pytest.raises(ValueError, match="load_size"):
        Preprocessing.for_backbone("resnet50", 256, "resize", load_size=512)
    with pytest.raises(ValueError, match="multiple of 32"):
        Preprocessing.for_backbone("resnet50", 250)


def test_normalisation_is_numpys_float32_arithmetic_bit_for_bit_and_takes_read_only_input() -> None:
    preprocessing = Preprocessing.for_backbone("resnet50", 64)
    image = np.random.default_rng(3).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    image.setflags(write=False)  # as a memory-mapped cache file or a decoded Pillow image
    mean = np.asarray(preprocessing.mean, dtype=np.float32) * 255.0
    std = np.asarray(preprocessing.std, dtype=np.float32) * 255.0
    expected = ((image.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    normalised = preprocessing.normalize(image)
    assert normalised.shape == (3, 64, 96) and normalised.dtype == np.float32
    assert normalised.flags["C_CONTIGUOUS"] and np.array_equal(normalised, expected)
