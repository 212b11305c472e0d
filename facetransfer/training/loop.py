"""One epoch of training and one pass of evaluation, shared by segmentation and detection.

What differs between the two tasks (the loss and the validation metrics) lives in a small task
object; the loops themselves handle devices, mixed precision and progress display.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from facetransfer.evaluation.detection_metrics import detection_metrics
from facetransfer.evaluation.segmentation_metrics import SegmentationConfusion
from facetransfer.runtime.device import DeviceSettings

Batch = tuple[torch.Tensor, torch.Tensor]


class MetricAccumulator(Protocol):
    """Collects model outputs batch by batch and turns them into metrics."""

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None: ...

    def compute(self) -> dict[str, float]: ...


class Task(Protocol):
    """The task-specific part of training: loss and validation metrics."""

    criterion: nn.Module

    def metric_accumulator(self) -> MetricAccumulator: ...


class _ConfusionAccumulator:
    def __init__(self, num_classes: int) -> None:
        self.confusion = SegmentationConfusion(num_classes)

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.confusion.update(outputs.argmax(dim=1), targets)

    def compute(self) -> dict[str, float]:
        return {"pixel_accuracy": self.confusion.pixel_accuracy, "miou": self.confusion.mean_iou}


class _ScoreAccumulator:
    def __init__(self) -> None:
        self.scores: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.scores.append(torch.sigmoid(outputs.float()).cpu().numpy())
        self.labels.append(targets.cpu().numpy())

    def compute(self) -> dict[str, float]:
        metrics = detection_metrics(np.concatenate(self.labels), np.concatenate(self.scores), threshold=0.5)
        return {name: metrics[name] for name in ("accuracy", "precision", "recall", "f1", "roc_auc")}


@dataclass
class SegmentationTask:
    """Per-pixel class-weighted cross entropy; validation pixel accuracy and mIoU."""

    criterion: nn.Module
    num_classes: int

    def metric_accumulator(self) -> MetricAccumulator:
        return _ConfusionAccumulator(self.num_classes)


@dataclass
class DetectionTask:
    """Class-weighted BCE on logits; validation accuracy/precision/recall/F1 at 0.5 and ROC-AUC."""

    criterion: nn.Module

    def metric_accumulator(self) -> MetricAccumulator:
        return _ScoreAccumulator()


def show_progress() -> bool:
    """Progress bars only on an interactive terminal (not in CI logs or pipeline step logs)."""
    return sys.stderr.isatty()


def _limited(loader: Iterable[Batch], max_batches: int | None) -> Iterable[Batch]:
    return loader if max_batches is None else islice(loader, max_batches)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    task: Task,
    settings: DeviceSettings,
    *,
    scaler: torch.amp.GradScaler | None = None,
    max_batches: int | None = None,
    description: str = "train",
) -> float:
    """Train ``model`` for one pass over ``loader``.

    Args:
        model: model already on ``settings.device``.
        loader: batches of ``(images, targets)``.
        optimizer: optimiser over the trainable parameters.
        task: loss definition (its criterion must be on the device).
        settings: device policy (autocast, memory format).
        scaler: gradient scaler for fp16 autocast, else ``None``.
        max_batches: stop after this many batches (``None``: whole loader).
        description: progress-bar label.

    Returns:
        Mean training loss per sample.
    """
    model.train()
    total_loss = torch.zeros((), device=settings.device)
    total_samples = 0
    for images, targets in tqdm(
        _limited(loader, max_batches), desc=description, leave=False, disable=not show_progress()
    ):
        images, targets = settings.images_to_device(images), settings.targets_to_device(targets)
        optimizer.zero_grad(set_to_none=True)
        with settings.autocast():
            outputs = model(images)
        loss = task.criterion(outputs.float(), targets)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        # Accumulate on the device: no host synchronisation per step.
        total_loss += loss.detach() * images.shape[0]
        total_samples += images.shape[0]
    if total_samples == 0:
        raise ValueError("the training loader yielded no batch")
    return float(total_loss) / total_samples


@torch.no_grad()
def recalibrate_batch_norm(
    model: nn.Module,
    loader: Iterable[Batch],
    settings: DeviceSettings,
    *,
    max_batches: int,
) -> int:
    """Re-estimate the running statistics of the trainable BatchNorm layers ("precise BN").

    During training the running statistics are an exponential average over batches computed
    with ever-changing weights; early in training (fast Adam updates, few steps per epoch) they
    lag so far behind that evaluation mode predicts one class while training-mode outputs are
    right. Averaging the statistics of the current weights over a few training batches
    (Wu & Johnson, "Rethinking Batch in BatchNorm", 2021) removes that lag. Frozen layers (in
    eval mode, e.g. the ``last`` transfer variant's ASPP and decoder) are left untouched.

    Args:
        model: model on ``settings.device``.
        loader: training batches (only the images are used).
        settings: device policy.
        max_batches: number of batches averaged; 0 disables recalibration.

    Returns:
        Number of batches averaged.
    """
    model.train()
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if not layers or max_batches == 0:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
    batches = 0
    try:
        for images, _ in _limited(loader, max_batches):
            with settings.autocast():
                model(settings.images_to_device(images))
            batches += 1
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return batches


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    task: Task,
    settings: DeviceSettings,
    *,
    description: str = "validate",
) -> dict[str, float]:
    """Loss and task metrics of ``model`` over ``loader`` (eval mode, no gradients).

    Returns:
        ``{"loss": mean loss per sample, **task metrics}``.
    """
    model.eval()
    accumulator = task.metric_accumulator()
    total_loss = torch.zeros((), device=settings.device)
    total_samples = 0
    for images, targets in tqdm(loader, desc=description, leave=False, disable=not show_progress()):
        images, targets = settings.images_to_device(images), settings.targets_to_device(targets)
        with settings.autocast():
            outputs = model(images)
        outputs = outputs.float()
        total_loss += task.criterion(outputs, targets) * images.shape[0]
        total_samples += images.shape[0]
        accumulator.update(outputs, targets)
    if total_samples == 0:
        raise ValueError("the validation loader yielded no batch")
    return {"loss": float(total_loss) / total_samples, **accumulator.compute()}
