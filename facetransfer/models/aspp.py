"""The paper's modified Atrous Spatial Pyramid Pooling (ASPP) module."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (conventional alias)
from torch import nn

ASPP_DILATIONS = (1, 4, 8, 16)
"""Dilation rates of the four convolution branches (paper, section 3)."""

ASPP_FILTERS = 128
POOLING_FILTERS = 24


def aspp_kernel_size(dilation: int) -> int:
    """Kernel size of the branch with ``dilation``: 3 for rate 1, else ``3 + rate // 2``.

    This gives the paper's kernels 3, 5, 7 and 11 for rates 1, 4, 8 and 16.
    """
    return 3 if dilation == 1 else 3 + dilation // 2


class ConvBatchNormReLU(nn.Sequential):
    """Convolution (no bias) followed by BatchNorm and ReLU, with "same" padding.

    The original Keras code had no non-linearity after these BatchNorm layers; we add a ReLU
    after each (DESIGN §5).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ASPP(nn.Module):
    """Image pooling branch + four atrous branches, concatenated and projected to 128 channels.

    Args:
        in_channels: channels of the high-level backbone features.
        dilations: dilation rates of the atrous branches.
        filters: output channels of each atrous branch and of the projection.
        pooling_filters: output channels of the image pooling branch.
    """

    def __init__(
        self,
        in_channels: int,
        dilations: tuple[int, ...] = ASPP_DILATIONS,
        filters: int = ASPP_FILTERS,
        pooling_filters: int = POOLING_FILTERS,
    ) -> None:
        super().__init__()
        self.pooling = ConvBatchNormReLU(in_channels, pooling_filters, kernel_size=1)
        self.branches = nn.ModuleList(
            ConvBatchNormReLU(in_channels, filters, kernel_size=aspp_kernel_size(rate), dilation=rate)
            for rate in dilations
        )
        self.projection = ConvBatchNormReLU(
            pooling_filters + filters * len(dilations), filters, kernel_size=1
        )
        self.out_channels = filters

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map ``(N, in_channels, h, w)`` features to ``(N, filters, h, w)``."""
        pooled = self.pooling(F.adaptive_avg_pool2d(features, 1))
        pooled = pooled.expand(-1, -1, features.shape[-2], features.shape[-1])
        outputs = [pooled, *(branch(features) for branch in self.branches)]
        return self.projection(torch.cat(outputs, dim=1))
