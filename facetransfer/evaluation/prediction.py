"""Running trained models over manifest rows: fake probabilities and segmentation metrics.

Inference runs in fp32 (no autocast) so scores are precise and identical across devices up to
floating-point rounding; thresholds chosen on them transfer between machines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from facetransfer.classes import ClassScheme
from facetransfer.evaluation.segmentation_metrics import SegmentationConfusion
from facetransfer.inputs.datasets import ImageDataset, SegmentationDataset
from facetransfer.inputs.preprocessing import Perturbation, Preprocessing
from facetransfer.runtime.device import DeviceSettings, device_settings
from facetransfer.runtime.loaders import build_loader

SegmentationExample = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(image (H, W, 3) uint8, true class ids (H, W), predicted class ids (H, W))``."""


@contextlib.contextmanager
def _inference(model: nn.Module, settings: DeviceSettings) -> Iterator[nn.Module]:
    """Put ``model`` on the device in eval mode; afterwards restore its device, format and mode."""
    original = next(model.parameters()).device
    was_training = model.training
    settings.prepare_model(model).eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.to(original).to(memory_format=torch.contiguous_format).train(was_training)


def _forward_batches(
    model: nn.Module, dataset: Dataset, *, batch_size: int, device: str
) -> Iterator[tuple[torch.Tensor, torch.Tensor, DeviceSettings]]:
    """``(logits, second item of the batch, settings)`` per batch of ``dataset``, in order, in fp32."""
    settings = device_settings(device, amp=False)
    loader = build_loader(dataset, batch_size=batch_size, settings=settings, shuffle_seed=None)
    with _inference(model, settings):
        for images, second in loader:
            yield model(settings.images_to_device(images)), second, settings


def _backbone_of(model: nn.Module) -> str:
    name = getattr(model, "backbone_name", None)
    if not isinstance(name, str):
        raise ValueError("the model has no backbone_name: build it with facetransfer.models")
    return name


def predict_scores(
    model: nn.Module,
    frame: pd.DataFrame,
    *,
    preprocessing: Preprocessing,
    batch_size: int = 32,
    device: str = "auto",
    perturbation: Perturbation | None = None,
) -> np.ndarray:
    """Fake probabilities (sigmoid of the detector's logits) for the images in ``frame["path"]``.

    Args:
        model: a detector (one logit per image).
        frame: rows with ``path``; the output follows their order.
        preprocessing: the model's input settings (as in training; centre crop in crop mode).
        batch_size: images per forward pass.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        perturbation: applied to each decoded image before preprocessing (robustness sweeps).

    Returns:
        ``(len(frame),)`` float64 probabilities that each image is generated.
    """
    dataset = ImageDataset(frame, preprocessing=preprocessing, perturbation=perturbation)
    scores = np.empty(len(dataset), dtype=np.float64)
    for logits, indices, _ in _forward_batches(model, dataset, batch_size=batch_size, device=device):
        scores[indices.numpy()] = torch.sigmoid(logits).cpu().numpy()
    return scores


def evaluate_segmenter(
    model: nn.Module,
    frame: pd.DataFrame,
    *,
    scheme: ClassScheme,
    image_size: int,
    batch_size: int = 16,
    device: str = "auto",
) -> dict[str, float | dict[str, float]]:
    """Pixel accuracy (paper Table 1), mIoU and per-class IoU of a segmenter on ``frame``.

    Masks are compared at ``image_size`` (resized with nearest neighbour, as in training).

    Returns:
        ``{"pixel_accuracy", "miou", "per_class_iou": {class name: IoU (NaN if absent)}, "n_images"}``.
    """
    dataset = SegmentationDataset(
        frame,
        preprocessing=Preprocessing.for_backbone(_backbone_of(model), image_size),
        scheme=scheme,
        augment=False,
    )
    confusion = SegmentationConfusion(scheme.num_classes)
    for logits, masks, settings in _forward_batches(model, dataset, batch_size=batch_size, device=device):
        confusion.update(logits.argmax(dim=1), settings.targets_to_device(masks))
    return {
        "pixel_accuracy": confusion.pixel_accuracy,
        "miou": confusion.mean_iou,
        "per_class_iou": dict(zip(scheme.names, confusion.iou().tolist(), strict=True)),
        "n_images": len(dataset),
    }


def segmentation_examples(
    model: nn.Module,
    frame: pd.DataFrame,
    *,
    scheme: ClassScheme,
    image_size: int,
    count: int = 4,
    device: str = "auto",
) -> list[SegmentationExample]:
    """Image, ground truth and prediction of the first ``count`` rows (for overlay plots)."""
    dataset = SegmentationDataset(
        frame.head(count),
        preprocessing=Preprocessing.for_backbone(_backbone_of(model), image_size),
        scheme=scheme,
        augment=False,
        cache="memory",  # the batches below decode each row once; the overlays reuse it
    )
    examples: list[SegmentationExample] = []
    index = 0
    for logits, _, _ in _forward_batches(model, dataset, batch_size=len(dataset) or 1, device=device):
        for predicted in logits.argmax(dim=1).cpu().numpy().astype(np.uint8):
            image, truth = dataset.decoded(index)
            examples.append((image, np.asarray(truth), predicted))
            index += 1
    return examples
