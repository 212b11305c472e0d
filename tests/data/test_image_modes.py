"""One mode policy from ingestion to training: faithful modes are kept (original mode recorded),
only what cannot be converted is quarantined, and validation accepts what the loader converts."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from tree_builders import random_image

from facetransfer.ingestion.manifest import build_manifest
from facetransfer.ingestion.sources import SourceConfig
from facetransfer.inputs.datasets import DetectionDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.validation import ValidationBounds, validate_detection_manifest

MODES = ("RGB", "L", "LA", "P", "RGBA", "CMYK", "I;16")


def write_in_mode(path: Path, seed: int, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(random_image(seed, 48))
    if mode == "I;16":
        image = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
    else:
        image = rgb.convert(mode)
    image.save(path, format="JPEG" if mode == "CMYK" else "PNG")


def test_every_convertible_mode_is_ingested_validated_and_loaded(tmp_path: Path) -> None:
    for index, mode in enumerate(MODES):
        suffix = "jpg" if mode == "CMYK" else "png"
        write_in_mode(tmp_path / "real" / "ffhq" / f"{index}.{suffix}", index, mode)
        write_in_mode(tmp_path / "fake" / "gan" / f"{index}.{suffix}", 100 + index, mode)
    floats = io.BytesIO()
    Image.fromarray(np.ones((48, 48), dtype=np.float32)).save(floats, format="TIFF")
    (tmp_path / "fake" / "gan" / "float.png").write_bytes(floats.getvalue())  # a TIFF named .png

    source = SourceConfig(name="mine", format="folder", path=str(tmp_path))
    result = build_manifest([source], root="/", cache_dir=tmp_path / "cache")
    manifest = result.manifest
    assert sorted(manifest["mode"].unique()) == sorted(MODES)  # the files' own modes are recorded
    assert result.quarantine["check"].tolist() == ["unsupported_mode"]
    assert "float.png" in result.quarantine["path"].iloc[0]

    bounds = ValidationBounds(min_images_per_generator=1, min_images_per_source=1)
    outcomes = {o.name: o.success for o in validate_detection_manifest(manifest, bounds).outcomes}
    assert outcomes["mode_allowed"]
    dataset = DetectionDataset(manifest, preprocessing=Preprocessing.for_backbone("resnet50", 32))
    for index in range(len(dataset)):
        image, _ = dataset[index]
        assert image.shape == (3, 32, 32)
        # 16-bit images are scaled, not clipped to white (normalised white would be ~2.2-2.6)
        assert float(image.mean()) < 2.0, manifest.loc[index, "mode"]
