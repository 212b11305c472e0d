"""Images/s of the detector's data pipeline from 1024 px JPEGs, next to a torchvision peer and the model.

Writes ``--images`` photo-like 1024 px JPEGs (quality 90, as FFHQ/CelebA-HQ re-encodes are) into a
temporary ``ImageFolder`` tree (one folder per label), then, for each input mode (``resize`` to
``--image-size``, ``crop`` of that size from the full image), measures:

* ``preload``: images/s of ``DetectionDataset.preload`` filling the memory cache with 1, 2 and 4
  decoding threads (``--preload-threads``), best of ``--repeats``;
* ``epochs``: full shuffled training epochs (batch 16, augmentation on) through a DataLoader with 0
  and 2 loader workers, for each cache state:

  - ``no cache``: every file decoded (``sample_cache: none``);
  - ``disk, first epoch``: the first epoch with the disk cache (decode + write);
  - ``disk, later epochs``: a later epoch reading the memory-mapped cache files;
  - ``memory``: a later epoch from the in-process cache, filled by ``preload``;

  next to the peer a user would write by hand: torchvision ``datasets.ImageFolder`` +
  ``DataLoader`` with the same resize (``Resize``) or crop (``RandomCrop``), horizontal flip and
  normalisation, batch size and workers. Each of our figures is followed by its ratio to the peer;
* ``model``: the model-only training step of ``benchmarks/train_step.py`` at the same size; the
  data pipeline keeps up with training where its rate is above the model's.

Usage:
    python benchmarks/data_pipeline.py [--images 96] [--image-size 256] [--backbone mobilenet_v3_large]
        [--parts model epochs preload] [--preload-threads 1 2 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.inputs.datasets import DetectionDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.runtime.loaders import build_loader
from facetransfer.training import device_settings

sys.path.insert(0, str(Path(__file__).parent))
from train_step import benchmark as model_benchmark

BATCH_SIZE = 16
LOADER_WORKERS = (0, 2)
PARTS = ("model", "epochs", "preload")


def write_photos(folder: Path, count: int, size: int = 1024) -> pd.DataFrame:
    """``count`` smooth, textured RGB JPEGs of ``size`` px in ``folder/<label>/`` and their manifest rows."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rows = []
    for index in range(count):
        phase = rng.uniform(0, 2 * np.pi, 3)
        base = np.stack([127 + 90 * np.sin(6 * xx + p) * np.cos(4 * yy - p) for p in phase], axis=2)
        pixels = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        label = index % 2
        path = folder / str(label) / f"{index:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=90)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rows.append({"path": str(path), "label": label, "sha256": digest, "width": size, "height": size})
    return pd.DataFrame(rows)


def images_per_second(loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Images/s of one pass over ``loader``."""
    started = time.perf_counter()
    seen = sum(images.shape[0] for images, _ in loader)
    return seen / (time.perf_counter() - started)


def epoch_rate(dataset: DetectionDataset, workers: int, epoch: int) -> float:
    """Images/s of one shuffled training epoch through the product's DataLoader."""
    settings = device_settings("cpu", amp=False, num_workers=workers)
    dataset.set_epoch(epoch)
    return images_per_second(
        build_loader(dataset, batch_size=BATCH_SIZE, settings=settings, shuffle_seed=epoch)
    )


def peer_epoch_rate(folder: Path, preprocessing: Preprocessing, workers: int) -> float:
    """Images/s of one shuffled epoch of the hand-written torchvision pipeline over ``folder``."""
    size = preprocessing.image_size
    geometry = (
        transforms.Resize((size, size))
        if preprocessing.input_mode == "resize"
        else transforms.RandomCrop(size)
    )
    pipeline = transforms.Compose(
        [
            geometry,
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )
    dataset = datasets.ImageFolder(str(folder), transform=pipeline)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(
        dataset, batch_size=BATCH_SIZE, shuffle=True, drop_last=True, num_workers=workers, generator=generator
    )
    return images_per_second(loader)


def preload_rate(frame: pd.DataFrame, preprocessing: Preprocessing, threads: int, repeats: int) -> float:
    """Images/s of ``preload`` filling an empty memory cache with ``threads`` threads, best of ``repeats``."""
    best = 0.0
    for _ in range(repeats):
        dataset = DetectionDataset(frame, preprocessing=preprocessing, cache="memory")
        started = time.perf_counter()
        dataset.preload(threads=threads)
        best = max(best, len(frame) / (time.perf_counter() - started))
    return best


def with_ratio(rate: float, peer: float) -> str:
    """``rate`` followed by its ratio to ``peer``."""
    return f"{rate:.0f} ({rate / peer:.2f}×)"


def epoch_table(
    frame: pd.DataFrame, folder: Path, preprocessing: Preprocessing, cache_root: Path
) -> pd.DataFrame:
    """One row per loader worker count: the peer's rate and ours (with ratios) per cache state."""
    rows = []
    mode = preprocessing.input_mode
    for workers in LOADER_WORKERS:
        peer = peer_epoch_rate(folder, preprocessing, workers)
        cold = DetectionDataset(frame, preprocessing=preprocessing, augment=True, cache="none")
        disk = DetectionDataset(
            frame,
            preprocessing=preprocessing,
            augment=True,
            cache="disk",
            cache_dir=cache_root / f"{mode}-{workers}",
        )
        disk_first = epoch_rate(disk, workers, 0)
        memory = DetectionDataset(frame, preprocessing=preprocessing, augment=True, cache="memory")
        memory.preload()
        rows.append(
            {
                "input mode, loader workers": f"`{mode}`, {workers}",
                "torchvision peer": f"{peer:.0f}",
                "no cache": with_ratio(epoch_rate(cold, workers, 0), peer),
                "disk cache, first epoch": with_ratio(disk_first, peer),
                "disk cache, later epochs": with_ratio(epoch_rate(disk, workers, 1), peer),
                "memory cache": with_ratio(epoch_rate(memory, workers, 1), peer),
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def preload_table(
    frame: pd.DataFrame, preprocessing: Preprocessing, threads: list[int], repeats: int
) -> dict:
    """One row: ``preload`` images/s per thread count and the speed-up of each over one thread."""
    rates = {count: preload_rate(frame, preprocessing, count, repeats) for count in threads}
    row = {"input mode": f"`{preprocessing.input_mode}`"}
    for count, rate in rates.items():
        label = f"{count} thread{'s' if count > 1 else ''}"
        row[label] = f"{rate:.0f}" if count == threads[0] else f"{rate:.0f} ({rate / rates[threads[0]]:.2f}×)"
    print(row, flush=True)
    return row


def main() -> None:
    """Parse arguments, run the measurements, print markdown tables."""
    quiet_third_party_telemetry()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--backbone", default="mobilenet_v3_large")
    parser.add_argument("--threads", type=int, default=None, help="intra-op CPU threads (default: torch's)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    parser.add_argument("--preload-threads", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3, help="preload runs per thread count (best kept)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        frame = write_photos(folder / "images", args.images)
        print(f"wrote {args.images} 1024 px JPEGs in {time.perf_counter() - started:.1f} s", flush=True)
        modes = [
            Preprocessing.for_backbone(args.backbone, args.image_size, mode) for mode in ("resize", "crop")
        ]
        if "model" in args.parts:
            settings = device_settings("auto", amp=True, num_workers=0)
            train_seconds, _ = model_benchmark(
                args.backbone, settings, image_size=args.image_size, batch_size=BATCH_SIZE, warmup=1, steps=3
            )
            print(
                f"\nmodel only ({args.backbone}, {settings.device.type}, {args.image_size}px, "
                f"batch {BATCH_SIZE}): {BATCH_SIZE / train_seconds:.1f} img/s per training step",
                flush=True,
            )
        if "preload" in args.parts:
            table = pd.DataFrame([preload_table(frame, p, args.preload_threads, args.repeats) for p in modes])
            print(f"\npreload, images/s (speed-up over {args.preload_threads[0]} thread):")
            print(table.to_markdown(index=False), flush=True)
        if "epochs" in args.parts:
            tables = [epoch_table(frame, folder / "images", p, folder / "cache") for p in modes]
            print(f"\ntraining epochs, images/s (ours / torchvision peer), batch {BATCH_SIZE}:")
            print(pd.concat(tables).to_markdown(index=False), flush=True)


if __name__ == "__main__":
    main()
