"""DeepLabV3+ decoder and the two heads: per-pixel classes (segmenter) and one logit (detector)."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (conventional alias)
from torch import nn

from facetransfer.models.aspp import ConvBatchNormReLU

LOW_LEVEL_FILTERS = 24
DECODER_FILTERS = 128
DETECTION_HIDDEN_UNITS = 200


class Decoder(nn.Module):
    """Fuse ASPP output with low-level features: 1x1 conv on the low-level features, upsample the
    ASPP output to their size, concatenate, then two 3x3 convolutions.

    Args:
        low_level_channels: channels of the low-level backbone features.
        aspp_channels: channels of the ASPP output.
        low_level_filters: channels the low-level features are reduced to.
        filters: channels of the two 3x3 convolutions (and of the output).
    """

    def __init__(
        self,
        low_level_channels: int,
        aspp_channels: int,
        low_level_filters: int = LOW_LEVEL_FILTERS,
        filters: int = DECODER_FILTERS,
    ) -> None:
        super().__init__()
        self.low_level = ConvBatchNormReLU(low_level_channels, low_level_filters, kernel_size=1)
        self.fuse = nn.Sequential(
            ConvBatchNormReLU(aspp_channels + low_level_filters, filters, kernel_size=3),
            ConvBatchNormReLU(filters, filters, kernel_size=3),
        )
        self.out_channels = filters

    def forward(self, aspp_features: torch.Tensor, low_level_features: torch.Tensor) -> torch.Tensor:
        """Return ``(N, filters, h, w)`` features at the low-level resolution ``(h, w)``."""
        upsampled = F.interpolate(
            aspp_features, size=low_level_features.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.fuse(torch.cat([upsampled, self.low_level(low_level_features)], dim=1))


class SegmentationHead(nn.Module):
    """1x1 convolution to class logits, upsampled to the input size.

    The paper upsamples the decoder features, then applies the 1x1 convolution. Bilinear
    interpolation and a 1x1 convolution are both linear per pixel (interpolation weights sum to
    one, so the bias is preserved), hence they commute exactly; convolving first upsamples
    ``num_classes`` instead of 128 channels, which is several times cheaper.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, features: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        """Return ``(N, num_classes, *output_size)`` logits."""
        return F.interpolate(
            self.classifier(features), size=output_size, mode="bilinear", align_corners=False
        )


class DetectionHead(nn.Module):
    """Global average pooling -> Linear(128, 200) -> SELU -> Linear(200, 1): one logit per image.

    The decoder features are pooled at their own (low-level) resolution: upsampling them to the
    input size first would cost a 128-channel interpolation and change the mean only through
    border effects.
    """

    def __init__(
        self, in_channels: int = DECODER_FILTERS, hidden_units: int = DETECTION_HIDDEN_UNITS
    ) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_channels, hidden_units)
        self.activation = nn.SELU()
        self.output = nn.Linear(hidden_units, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map ``(N, C, h, w)`` decoder features to ``(N,)`` logits (positive = fake)."""
        pooled = features.mean(dim=(2, 3))
        return self.output(self.activation(self.hidden(pooled))).squeeze(1)
