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
from torch.utils.data import DataLoader

from facetransfer.classes import ClassScheme
from facetransfer.data.datasets import ImageDataset, SegmentationDataset
from facetransfer.evaluation.segmentation_metrics import SegmentationConfusion
from facetransfer.training.device import DeviceSettings, device_settings

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


def _backbone_of(model: nn.Module) -> str:
    name = getattr(model, "backbone_name", None)
    if not isinstance(name, str):
        raise ValueError("the model has no backbone_name: build it with facetransfer.models")
    return name


def _loader(dataset: torch.utils.data.Dataset, batch_size: int, settings: DeviceSettings) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=settings.num_workers,
        pin_memory=settings.pin_memory,
    )


def predict_scores(
    model: nn.Module,
    frame: pd.DataFrame,
    *,
    image_size: int,
    backbone: str,
    batch_size: int = 32,
    device: str = "auto",
) -> np.ndarray:
    """Fake probabilities (sigmoid of the detector's logits) for the images in ``frame["path"]``.

    Args:
        model: a detector (one logit per image).
        frame: rows with ``path``; the output follows their order.
        image_size: side images are resized to (as in training).
        backbone: backbone name (normalisation statistics).
        batch_size: images per forward pass.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns:
        ``(len(frame),)`` float64 probabilities that each image is generated.
    """
    settings = device_settings(device, amp=False)
    dataset = ImageDataset(frame, image_size=image_size, backbone=backbone)
    scores = np.empty(len(dataset), dtype=np.float64)
    with _inference(model, settings):
        for images, indices in _loader(dataset, batch_size, settings):
            with settings.autocast():
                logits = model(settings.images_to_device(images))
            scores[indices.numpy()] = torch.sigmoid(logits.float()).cpu().numpy()
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
    settings = device_settings(device, amp=False)
    dataset = SegmentationDataset(
        frame, image_size=image_size, backbone=_backbone_of(model), scheme=scheme, augment=False
    )
    confusion = SegmentationConfusion(scheme.num_classes)
    with _inference(model, settings):
        for images, masks in _loader(dataset, batch_size, settings):
            with settings.autocast():
                logits = model(settings.images_to_device(images))
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
    settings = device_settings(device, amp=False)
    dataset = SegmentationDataset(
        frame.head(count), image_size=image_size, backbone=_backbone_of(model), scheme=scheme, augment=False
    )
    examples: list[SegmentationExample] = []
    with _inference(model, settings):
        for index in range(len(dataset)):
            image, truth = dataset.decoded(index)
            tensor, _ = dataset[index]
            with settings.autocast():
                logits = model(settings.images_to_device(tensor.unsqueeze(0)))
            examples.append(
                (image, np.asarray(truth), logits.argmax(dim=1)[0].cpu().numpy().astype(np.uint8))
            )
    return examples
