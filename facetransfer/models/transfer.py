"""Transfer strategies from a trained face segmenter to a deepfake detector (paper, Table 2).

* ``none``: no transfer; the detector keeps its own initialisation, everything trains.
* ``last``: every backbone, ASPP and decoder tensor is copied from the segmenter; ASPP and decoder
  are frozen (no gradients, BatchNorm in eval mode), backbone and detection head train.
* ``all``: every backbone, ASPP and decoder tensor is copied; everything trains.

Copying is strict: a missing tensor or a shape mismatch raises ``WeightTransferError`` naming the
tensor. (The original Keras code wrapped the copy in a try/except, so ASPP weights whose kernel
sizes differed between its two scripts were silently not transferred.)
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from facetransfer.models.deeplab import ENCODER_DECODER_PREFIXES, DeepLabV3PlusDetector

logger = logging.getLogger(__name__)

VARIANTS = ("none", "last", "all")
"""Transfer variants: Table 2's "—", "Last" and "All"."""

FROZEN_BY_VARIANT: dict[str, tuple[str, ...]] = {"none": (), "last": ("aspp", "decoder"), "all": ()}
"""Submodules frozen by each variant."""


class WeightTransferError(ValueError):
    """The segmenter's tensors cannot be copied into the detector (missing key or shape mismatch)."""


def validate_variant(variant: str) -> str:
    """Return ``variant`` if valid, else raise ``ValueError`` listing the valid variants."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown transfer variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return variant


def transfer_weights(source: nn.Module, target: nn.Module) -> int:
    """Copy every backbone, ASPP and decoder tensor (parameters and buffers) of ``source`` into ``target``.

    Args:
        source: trained segmenter.
        target: detector of the same backbone.

    Returns:
        Number of tensors copied.

    Raises:
        WeightTransferError: a target tensor is missing from ``source`` or has another shape.
    """
    source_state = source.state_dict()
    target_state = target.state_dict()
    copied: dict[str, torch.Tensor] = {}
    for name, target_tensor in target_state.items():
        if not name.startswith(ENCODER_DECODER_PREFIXES):
            continue
        if name not in source_state:
            raise WeightTransferError(
                f"tensor {name!r} of the detector is missing from the segmenter: "
                "were they built with the same backbone and code version?"
            )
        source_tensor = source_state[name]
        if source_tensor.shape != target_tensor.shape:
            raise WeightTransferError(
                f"tensor {name!r} has shape {tuple(source_tensor.shape)} in the segmenter but "
                f"{tuple(target_tensor.shape)} in the detector"
            )
        copied[name] = source_tensor
    unexpected = [
        name
        for name in source_state
        if name.startswith(ENCODER_DECODER_PREFIXES) and name not in target_state
    ]
    if unexpected:
        raise WeightTransferError(
            f"segmenter tensors with no place in the detector: {', '.join(unexpected[:5])}"
        )
    target.load_state_dict(copied, strict=False)
    logger.info("transferred %d tensors (backbone, ASPP, decoder) from the segmenter", len(copied))
    return len(copied)


def freeze_for_variant(detector: DeepLabV3PlusDetector, variant: str) -> None:
    """Freeze the submodules that ``variant`` keeps fixed and keep them in eval mode.

    Args:
        detector: the detector, after weight transfer.
        variant: one of ``VARIANTS``.
    """
    frozen = FROZEN_BY_VARIANT[validate_variant(variant)]
    for name in frozen:
        for parameter in detector.get_submodule(name).parameters():
            parameter.requires_grad_(False)
    detector.frozen_modules = list(frozen)
    detector.train(detector.training)
