"""DeepLabV3+ face segmenter and deepfake detectors with the paper's transfer variants.

Public API: ``build_segmenter``, ``build_detector``, ``count_parameters``, ``BACKBONES``,
``VARIANTS``.
"""

from __future__ import annotations

import logging

from torch import nn

from facetransfer.models.backbones import BACKBONES, get_backbone_spec
from facetransfer.models.deeplab import DeepLabV3PlusDetector, DeepLabV3PlusSegmenter
from facetransfer.models.pretrained import Pretrained
from facetransfer.models.transfer import (
    VARIANTS,
    WeightTransferError,
    freeze_for_variant,
    transfer_weights,
    validate_variant,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BACKBONES",
    "VARIANTS",
    "DeepLabV3PlusDetector",
    "DeepLabV3PlusSegmenter",
    "WeightTransferError",
    "build_detector",
    "build_segmenter",
    "count_parameters",
]


def build_segmenter(
    backbone: str, num_classes: int = 14, pretrained: Pretrained = False
) -> DeepLabV3PlusSegmenter:
    """Build the DeepLabV3+ face parser.

    Args:
        backbone: ``"resnet50"`` or ``"mobilenet_v3_large"``.
        num_classes: number of segmentation classes (14 for Mut1ny).
        pretrained: load ImageNet backbone weights if they are in the local torch cache; otherwise
            warn and initialise randomly. Never downloads. ``model.pretrained_loaded`` tells which.

    Returns:
        A model mapping ``(N, 3, H, W)`` images (sides multiples of 32) to ``(N, num_classes, H, W)``
        logits, with attributes ``backbone_name`` and ``pretrained_loaded``.

    Raises:
        ValueError: unknown backbone or ``num_classes < 2``.
    """
    return DeepLabV3PlusSegmenter(backbone, num_classes=num_classes, pretrained=pretrained)


def build_detector(
    backbone: str, variant: str, segmenter: nn.Module | None = None, pretrained: Pretrained = False
) -> DeepLabV3PlusDetector:
    """Build a deepfake detector, transferring weights from ``segmenter`` according to ``variant``.

    Args:
        backbone: ``"resnet50"`` or ``"mobilenet_v3_large"``.
        variant: ``"none"`` (no transfer; ``segmenter`` is ignored), ``"last"`` (copy everything,
            freeze ASPP + decoder) or ``"all"`` (copy everything, train everything).
        segmenter: trained segmenter of the same backbone; required for ``last`` and ``all``.
        pretrained: load ImageNet backbone weights if cached locally (relevant for ``none``; for the
            other variants the backbone is overwritten by the segmenter's).

    Returns:
        A model mapping images to ``(N,)`` logits (positive = fake), with attributes
        ``backbone_name``, ``variant`` and ``pretrained_loaded``.

    Raises:
        ValueError: unknown backbone or variant, missing segmenter, or a segmenter of another backbone.
        WeightTransferError: a tensor is missing or has another shape (the message names it).
    """
    get_backbone_spec(backbone)
    validate_variant(variant)
    if variant == "none":
        return DeepLabV3PlusDetector(backbone, variant=variant, pretrained=pretrained)
    if segmenter is None:
        raise ValueError(f"transfer variant {variant!r} needs a trained segmenter; pass segmenter=...")
    source_backbone = getattr(segmenter, "backbone_name", None)
    if source_backbone != backbone:
        raise ValueError(f"cannot transfer a {source_backbone!r} segmenter into a {backbone!r} detector")
    # ImageNet weights would be overwritten by the segmenter's backbone: do not load them.
    detector = DeepLabV3PlusDetector(backbone, variant=variant, pretrained=False)
    transfer_weights(segmenter, detector)
    detector.pretrained_loaded = bool(getattr(segmenter, "pretrained_loaded", False))
    freeze_for_variant(detector, variant)
    return detector


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
