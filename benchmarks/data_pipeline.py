"""Images/s the detector's data pipeline delivers from 1024 px JPEGs, next to the model's own rate.

Writes ``--images`` photo-like 1024 px JPEGs (quality 90, as FFHQ/CelebA-HQ re-encodes are) into a
temporary folder, then times full epochs of a training ``DetectionDataset`` through a DataLoader
(batch 16, shuffled, augmentation on) for each input mode (``resize`` to 256, ``crop`` 256 from
the full image) and each cache state:

* ``cold``: nothing cached, every file decoded (``sample_cache: none``);
* ``disk fill``: the first epoch with the disk cache (decode + write);
* ``disk warm``: a later epoch reading the memory-mapped cache files;
* ``memory``: a later epoch from the in-process cache;

with 0 and 2 loader workers. It then measures the model-only training step of
``benchmarks/train_step.py`` at the same size and prints the ratio data / model: above 1 the
data pipeline keeps up with training, below 1 the model waits for data.

Usage:
    python benchmarks/data_pipeline.py [--images 96] [--image-size 256] [--backbone mobilenet_v3_large]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.inputs.datasets import DetectionDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.runtime.loaders import build_loader
from facetransfer.training import device_settings

sys.path.insert(0, str(Path(__file__).parent))
from train_step import benchmark as model_benchmark


def write_photos(folder: Path, count: int, size: int = 1024) -> pd.DataFrame:
    """``count`` smooth, textured RGB JPEGs of ``size`` px and their manifest rows."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rows = []
    for index in range(count):
        phase = rng.uniform(0, 2 * np.pi, 3)
        base = np.stack([127 + 90 * np.sin(6 * xx + p) * np.cos(4 * yy - p) for p in phase], axis=2)
        pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"{index:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append({"path": str(path), "label": index % 2, "sha256": digest, "width": size, "height": size})
    return pd.DataFrame(rows)


def epoch_rate(dataset: DetectionDataset, workers: int, epoch: int) -> float:
    """Images/s of one shuffled training epoch (batch 16) through a DataLoader."""
    settings = device_settings("cpu", amp=False, num_workers=workers)
    dataset.set_epoch(epoch)
    loader = build_loader(dataset, batch_size=16, settings=settings, shuffle_seed=epoch)
    started = time.perf_counter()
    seen = sum(images.shape[0] for images, _ in loader)
    return seen / (time.perf_counter() - started)


def measure(frame: pd.DataFrame, preprocessing: Preprocessing, cache_root: Path) -> list[tuple[str, float]]:
    """``(label, images/s)`` of every cache state and worker count for one preprocessing."""
    results = []
    for workers in (0, 2):
        cold = DetectionDataset(frame, preprocessing=preprocessing, augment=True, cache="none")
        results.append((f"cold, {workers} workers", epoch_rate(cold, workers, 0)))
        disk = DetectionDataset(
            frame,
            preprocessing=preprocessing,
            augment=True,
            cache="disk",
            cache_dir=cache_root / f"{preprocessing.input_mode}-{workers}",
        )
        results.append((f"disk fill, {workers} workers", epoch_rate(disk, workers, 0)))
        results.append((f"disk warm, {workers} workers", epoch_rate(disk, workers, 1)))
    memory = DetectionDataset(frame, preprocessing=preprocessing, augment=True, cache="memory")
    memory.preload()
    results.append(("memory, 0 workers", epoch_rate(memory, 0, 1)))
    return results


def main() -> None:
    """Parse arguments, run the measurements, print one line each."""
    quiet_third_party_telemetry()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--backbone", default="mobilenet_v3_large")
    parser.add_argument("--threads", type=int, default=None, help="intra-op CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "images").mkdir()
        started = time.perf_counter()
        frame = write_photos(folder / "images", args.images)
        print(f"wrote {args.images} 1024 px JPEGs in {time.perf_counter() - started:.1f} s", flush=True)
        settings = device_settings("auto", amp=True, num_workers=0)
        train_seconds, _ = model_benchmark(
            args.backbone, settings, image_size=args.image_size, batch_size=16, warmup=1, steps=3
        )
        model_rate = 16 / train_seconds
        print(
            f"model only ({args.backbone}, {settings.device.type}, {args.image_size}px, batch 16): "
            f"{model_rate:.1f} img/s per training step",
            flush=True,
        )
        for mode in ("resize", "crop"):
            preprocessing = Preprocessing.for_backbone(args.backbone, args.image_size, mode)
            for label, rate in measure(frame, preprocessing, folder / "cache"):
                print(
                    f"{mode:<6} {args.image_size}px from 1024 px JPEG, {label:<22}: {rate:8.1f} img/s "
                    f"(data / model = {rate / model_rate:5.2f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
