"""DeepLabV3+ assembled from backbone, ASPP, decoder and a task head.

Both models share the attribute names ``backbone``, ``aspp`` and ``decoder`` so that their
state-dict keys match and the transfer strategies can copy tensors by name.
"""

from __future__ import annotations

import torch
from torch import nn

from facetransfer.models.aspp import ASPP
from facetransfer.models.backbones import HIGH_LEVEL, LOW_LEVEL, build_backbone, get_backbone_spec
from facetransfer.models.decoder import Decoder, DetectionHead, SegmentationHead
from facetransfer.models.pretrained import Pretrained

ENCODER_DECODER_PREFIXES = ("backbone.", "aspp.", "decoder.")
"""State-dict key prefixes of the parts shared by segmenter and detector (what transfer copies)."""


class DeepLabV3PlusBase(nn.Module):
    """Backbone + ASPP + decoder: maps images to 128-channel features at the low-level stride.

    Args:
        backbone: one of ``facetransfer.models.BACKBONES``.
        pretrained: load ImageNet backbone weights if cached locally (never downloads).

    Attributes:
        backbone_name: the backbone's name.
        pretrained_loaded: whether ImageNet weights were loaded into the backbone.
        output_stride: input height and width must be multiples of it.
    """

    def __init__(self, backbone: str, pretrained: Pretrained = False) -> None:
        super().__init__()
        spec = get_backbone_spec(backbone)
        self.backbone_name = spec.name
        self.output_stride = spec.output_stride
        self.backbone, self.pretrained_loaded = build_backbone(spec.name, pretrained=pretrained)
        self.aspp = ASPP(spec.high_level_channels)
        self.decoder = Decoder(spec.low_level_channels, self.aspp.out_channels)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Decoder features ``(N, 128, h, w)`` of normalised ``(N, 3, H, W)`` images."""
        height, width = images.shape[-2:]
        if height % self.output_stride or width % self.output_stride:
            raise ValueError(
                f"input size {height}x{width} is not a multiple of {self.output_stride} "
                f"(the output stride of {self.backbone_name})"
            )
        taps = self.backbone(images)
        return self.decoder(self.aspp(taps[HIGH_LEVEL]), taps[LOW_LEVEL])


class DeepLabV3PlusSegmenter(DeepLabV3PlusBase):
    """DeepLabV3+ face parser: ``(N, 3, H, W)`` images -> ``(N, num_classes, H, W)`` logits.

    Args:
        backbone: one of ``facetransfer.models.BACKBONES``.
        num_classes: number of segmentation classes.
        pretrained: load ImageNet backbone weights if cached locally (never downloads).
    """

    def __init__(self, backbone: str, num_classes: int = 14, pretrained: Pretrained = False) -> None:
        super().__init__(backbone, pretrained)
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = num_classes
        self.head = SegmentationHead(self.decoder.out_channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Per-pixel class logits at the input resolution."""
        return self.head(self.features(images), output_size=tuple(images.shape[-2:]))


class DeepLabV3PlusDetector(DeepLabV3PlusBase):
    """DeepLabV3+ features with the detection head: images -> ``(N,)`` logits (positive = fake).

    Modules listed in ``frozen_modules`` (set by the ``last`` transfer variant) are kept in eval
    mode by ``train()``, so their BatchNorm running statistics stay those of the segmenter.

    Args:
        backbone: one of ``facetransfer.models.BACKBONES``.
        variant: transfer variant, recorded as attribute ``variant``.
        pretrained: load ImageNet backbone weights if cached locally (never downloads).
    """

    def __init__(self, backbone: str, variant: str, pretrained: Pretrained = False) -> None:
        super().__init__(backbone, pretrained)
        self.variant = variant
        self.head = DetectionHead(self.decoder.out_channels)
        self.frozen_modules: list[str] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """One logit per image; ``sigmoid(logit)`` is the probability that the image is fake."""
        return self.head(self.features(images))

    def train(self, mode: bool = True) -> DeepLabV3PlusDetector:
        """Set training mode, keeping frozen modules (and their BatchNorm statistics) in eval mode."""
        super().train(mode)
        for name in self.frozen_modules:
            self.get_submodule(name).eval()
        return self
