"""Throughput of the DeepLabV3+ segmenter: training steps and inference, per backbone.

Measures images/s of a segmentation training step (forward + class-weighted cross entropy +
backward + Adam) and of inference (eval mode, no gradients) on synthetic inputs, on the current
device. On CUDA each backbone is measured in fp32 and with AMP + channels-last, on CPU in the
contiguous and the channels-last memory format.

Usage:
    python benchmarks/train_step.py [--image-size 128] [--batch-size 8] [--steps 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

import torch

from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.models import BACKBONES, build_segmenter
from facetransfer.training import DeviceSettings, device_settings, resolve_device, segmentation_criterion

NUM_CLASSES = 14


def _timed(step: Callable[[], None], settings: DeviceSettings, warmup: int, steps: int) -> float:
    """Seconds per call of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    if settings.device.type == "cuda":
        torch.cuda.synchronize(settings.device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if settings.device.type == "cuda":
        torch.cuda.synchronize(settings.device)
    return (time.perf_counter() - started) / steps


def benchmark(
    backbone: str, settings: DeviceSettings, *, image_size: int, batch_size: int, warmup: int, steps: int
) -> tuple[float, float]:
    """Return ``(training seconds per step, inference seconds per batch)`` for ``backbone``."""
    torch.manual_seed(0)
    model = settings.prepare_model(build_segmenter(backbone, num_classes=NUM_CLASSES))
    criterion = segmentation_criterion(torch.ones(NUM_CLASSES)).to(settings.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda") if settings.needs_grad_scaler else None
    images = settings.images_to_device(torch.randn(batch_size, 3, image_size, image_size))
    masks = settings.targets_to_device(torch.randint(0, NUM_CLASSES, (batch_size, image_size, image_size)))

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with settings.autocast():
            logits = model(images)
        loss = criterion(logits.float(), masks)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    @torch.inference_mode()
    def inference_step() -> None:
        with settings.autocast():
            model(images)

    model.train()
    train_seconds = _timed(train_step, settings, warmup, steps)
    model.eval()
    inference_seconds = _timed(inference_step, settings, warmup, steps)
    return train_seconds, inference_seconds


def _compared_settings(device: str) -> list[DeviceSettings]:
    """The training default and what it replaced: full precision on CUDA, contiguous on CPU."""
    if resolve_device(device).type == "cuda":
        return [device_settings(device, amp=amp, num_workers=0) for amp in (False, True)]
    default = device_settings(device, num_workers=0)
    contiguous = dataclasses.replace(default, channels_last=False)
    return [contiguous, default] if default.channels_last else [default]


def main() -> None:
    """Parse arguments, run every configuration, print one line each."""
    quiet_third_party_telemetry()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="intra-op CPU threads (default: torch's)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    for backbone in args.backbones:
        for settings in _compared_settings(args.device):
            amp_dtype = settings.amp_dtype
            label = f"amp-{str(amp_dtype).removeprefix('torch.')}" if amp_dtype else "fp32"
            label += "+channels_last" if settings.channels_last else ""
            train_seconds, inference_seconds = benchmark(
                backbone,
                settings,
                image_size=args.image_size,
                batch_size=args.batch_size,
                warmup=args.warmup,
                steps=args.steps,
            )
            print(
                f"{backbone:<19} {settings.device.type:<4} {torch.get_num_threads()} threads {label:<26} "
                f"{args.image_size}px batch {args.batch_size}: "
                f"train {args.batch_size / train_seconds:8.1f} img/s ({train_seconds:.3f} s/step), "
                f"inference {args.batch_size / inference_seconds:8.1f} img/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
