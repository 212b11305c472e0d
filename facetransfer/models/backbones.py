"""Feature-extraction backbones of DeepLabV3+: torchvision networks cut at the paper's feature taps.

The taps decide the model size (the ASPP's 7x7 and 11x11 branches cost ~26k parameters per input
channel), so they are chosen to reproduce the paper's Table 1 (Keras layer names in brackets):

* ResNet50: low-level ``layer1.2.relu_1`` (stride 4, 64 ch) [``conv2_block3_2_relu``],
  high-level ``layer3.5.relu_1`` (stride 16, 256 ch) [``conv4_block6_2_relu``].
* MobileNetV3-Large: low-level ``features.4.block.3`` (stride 8, 40 ch) [``expanded_conv_3/project``],
  high-level ``features.13.block.3`` (stride 32, 160 ch) [``expanded_conv_12/project``].

The backbone is a torch.fx graph module that computes only what the two taps need: the layers
after the high-level tap (and their parameters) are not part of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from torchvision import models
from torchvision.models import WeightsEnum
from torchvision.models.feature_extraction import create_feature_extractor

from facetransfer.models.pretrained import Pretrained, load_cached_imagenet_weights

LOW_LEVEL = "low_level"
HIGH_LEVEL = "high_level"


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and where to tap its features.

    Attributes:
        name: public backbone name used in configuration.
        constructor: torchvision builder of the full classification network.
        weights: torchvision weights enum of its ImageNet weights.
        low_level_node: graph node of the low-level (fine) features.
        high_level_node: graph node of the high-level (coarse) features fed to the ASPP.
        low_level_channels: channels at ``low_level_node``.
        high_level_channels: channels at ``high_level_node``.
        output_stride: stride of ``high_level_node``; input sides must be multiples of it.
        batch_norm_momentum: momentum forced on every BatchNorm layer, or ``None`` to keep
            torchvision's value.
    """

    name: str
    constructor: Callable[..., nn.Module]
    weights: type[WeightsEnum]
    low_level_node: str
    high_level_node: str
    low_level_channels: int
    high_level_channels: int
    output_stride: int
    batch_norm_momentum: float | None = None


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec(
        name="resnet50",
        constructor=models.resnet50,
        weights=models.ResNet50_Weights,
        low_level_node="layer1.2.relu_1",
        high_level_node="layer3.5.relu_1",
        low_level_channels=64,
        high_level_channels=256,
        output_stride=16,
    ),
    "mobilenet_v3_large": BackboneSpec(
        name="mobilenet_v3_large",
        constructor=models.mobilenet_v3_large,
        weights=models.MobileNet_V3_Large_Weights,
        low_level_node="features.4.block.3",
        high_level_node="features.13.block.3",
        low_level_channels=40,
        high_level_channels=160,
        output_stride=32,
        # torchvision builds MobileNetV3 with momentum 0.01: trained from scratch on a small
        # dataset the running statistics lag so far behind that evaluation predicts one class.
        batch_norm_momentum=0.1,
    ),
}
"""Supported backbones by name."""


def get_backbone_spec(name: str) -> BackboneSpec:
    """Return the spec of backbone ``name``; raise ``ValueError`` listing the valid names."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}") from None


def build_backbone(name: str, *, pretrained: Pretrained = False) -> tuple[nn.Module, bool]:
    """Build the truncated feature extractor of backbone ``name``.

    Args:
        name: one of ``BACKBONES``.
        pretrained: ``True``: load ImageNet weights if they are in the local torch cache (never
            downloads); ``"download"``: fetch them through torchvision's own download into that
            cache when missing (opt-in, needs network); ``False``: random initialisation.

    Returns:
        ``(module, pretrained_loaded)``: ``module(x)`` returns a dict with ``LOW_LEVEL`` and
        ``HIGH_LEVEL`` feature maps; ``pretrained_loaded`` says whether ImageNet weights were loaded.

    Raises:
        ValueError: unknown backbone name.
    """
    spec = get_backbone_spec(name)
    full_model = spec.constructor(weights=None)
    loaded = (
        load_cached_imagenet_weights(full_model, spec.weights, allow_download=pretrained == "download")
        if pretrained
        else False
    )
    extractor = create_feature_extractor(
        full_model, return_nodes={spec.low_level_node: LOW_LEVEL, spec.high_level_node: HIGH_LEVEL}
    )
    if spec.batch_norm_momentum is not None:
        for module in extractor.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = spec.batch_norm_momentum
    return extractor, loaded
