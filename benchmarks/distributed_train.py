"""Data-parallel training, 1 vs N processes: img/s, seconds per epoch and the loss curves side by side.

Trains the DeepLabV3+ segmenter on demo faces (generated into a temporary folder) once per
process count with the same global batch, through ``facetransfer.training.train_segmenter`` and
``TrainConfig.distributed`` exactly as the pipeline does: CPU + gloo, or CUDA + nccl with AMP and
channels-last (``--device cuda``; N processes need N GPUs). Each epoch's seconds include BatchNorm
recalibration and validation (every rank validates on the whole split); "start-up" is the wall
time outside the epochs (N > 1: launching the workers, which import torch, and joining them).

Usage:
    python benchmarks/distributed_train.py [--nproc 1 2] [--device cpu] [--images 64]
        [--image-size 64] [--batch-size 8] [--epochs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from facetransfer.classes import MUT1NY_14
from facetransfer.demo import DemoOptions, generate_demo_data
from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.ingestion.manifest import build_manifest
from facetransfer.models import BACKBONES
from facetransfer.training import TrainConfig, train_segmenter


def demo_faces(folder: Path, images: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and validation rows (80/20, split by identity) of ``images`` demo faces."""
    options = DemoOptions(segmentation_images=images, real_images={}, fake_images_per_generator=0)
    summary = generate_demo_data(folder, options)
    sources = [source for source in summary.source_configs() if source["role"] == "segmentation"]
    manifest = build_manifest(sources, root="/", split_ratios=(0.8, 0.2, 0.0)).manifest
    return (
        manifest[manifest["split"] == "train"].reset_index(drop=True),
        manifest[manifest["split"] == "val"].reset_index(drop=True),
    )


def run(
    frames: tuple[pd.DataFrame, pd.DataFrame], config: TrainConfig, backbone: str, folder: Path
) -> dict[str, Any]:
    """Train once; return wall seconds, epoch seconds, img/s and the history."""
    started = time.perf_counter()
    result = train_segmenter(
        *frames, backbone=backbone, scheme=MUT1NY_14, config=config, checkpoint_dir=folder
    )
    wall = time.perf_counter() - started
    epoch_seconds = [record["seconds"] for record in result.history]
    batch = min(config.batch_size, len(frames[0]))
    images_per_epoch = (len(frames[0]) // batch) * batch
    steady = statistics.mean(epoch_seconds[1:] or epoch_seconds)  # epoch 1 includes warm-up
    return {
        "wall": wall,
        "startup": wall - sum(epoch_seconds),
        "epoch_seconds": steady,
        "images_per_second": images_per_epoch / steady,
        "history": result.history,
    }


def main() -> None:
    """Parse arguments, train once per process count, print the figures and the curves."""
    quiet_third_party_telemetry()
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--images", type=int, default=64, help="demo faces (80%% train, 20%% val)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8, help="global batch (split over processes)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1, help="intra-op CPU threads per process")
    parser.add_argument("--backbone", default="mobilenet_v3_large", choices=list(BACKBONES))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="facetransfer-bench-") as name:
        folder = Path(name)
        frames = demo_faces(folder / "data", args.images)
        print(f"{len(frames[0])} train / {len(frames[1])} val faces, {args.image_size}px, {args.backbone}")
        results = {}
        for nproc in args.nproc:
            config = TrainConfig(
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                patience=args.epochs,
                image_size=args.image_size,
                device=args.device,
                cpu_threads=args.threads,
                distributed={"nproc": nproc},
            )
            results[nproc] = run(frames, config, args.backbone, folder / f"checkpoints-{nproc}")
            figures = results[nproc]
            print(
                f"{nproc} process(es), {args.device}, {args.threads} thread(s) each, global batch "
                f"{args.batch_size}: {figures['images_per_second']:.1f} img/s, "
                f"{figures['epoch_seconds']:.2f} s/epoch (epochs 2+), start-up {figures['startup']:.1f} s, "
                f"wall {figures['wall']:.1f} s",
                flush=True,
            )
    print_curves(results)


def print_curves(results: dict[int, dict[str, Any]]) -> None:
    """Train and validation loss per epoch, one column per process count."""
    counts = sorted(results)
    header = "epoch " + " ".join(f"train(n={n}) val(n={n})".rjust(22) for n in counts)
    print(header)
    for index, record in enumerate(results[counts[0]]["history"]):
        cells = []
        for nproc in counts:
            history = results[nproc]["history"]
            other = (
                history[index]
                if index < len(history)
                else {"train_loss": float("nan"), "val_loss": float("nan")}
            )
            cells.append(f"{other['train_loss']:10.5f} {other['val_loss']:11.5f}")
        print(f"{int(record['epoch']):5d} " + " ".join(cells))
    if len(counts) > 1:
        reference, other = results[counts[0]]["history"], results[counts[-1]]["history"]
        for key in ("train_loss", "val_loss"):
            worst = max(abs(a[key] - b[key]) / abs(a[key]) for a, b in zip(reference, other, strict=False))
            print(f"max relative difference of {key}, n={counts[0]} vs n={counts[-1]}: {worst:.2e}")


if __name__ == "__main__":
    main()
