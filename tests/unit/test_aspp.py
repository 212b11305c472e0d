"""The paper's modified ASPP, pinned: dilations 1, 4, 8, 16 with kernels 3, 5, 7, 11 (DESIGN §5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from facetransfer.models import BACKBONES, build_segmenter

PAPER_BRANCHES = [(1, 3), (4, 5), (8, 7), (16, 11)]
"""(dilation, kernel size) of the four atrous branches, in order."""


@pytest.fixture(scope="module", params=BACKBONES)
def aspp(request: pytest.FixtureRequest) -> nn.Module:
    return build_segmenter(request.param).aspp


def _convolution(block: nn.Module) -> nn.Conv2d:
    return next(module for module in block.modules() if isinstance(module, nn.Conv2d))


def test_atrous_branches_have_the_papers_dilations_and_kernels(aspp: nn.Module) -> None:
    convolutions = [_convolution(branch) for branch in aspp.branches]
    assert [(conv.dilation, conv.kernel_size) for conv in convolutions] == [
        ((rate, rate), (kernel, kernel)) for rate, kernel in PAPER_BRANCHES
    ]
    # "same" padding: every branch keeps the feature map's size.
    assert [conv.padding for conv in convolutions] == [
        (rate * (k - 1) // 2,) * 2 for rate, k in PAPER_BRANCHES
    ]
    assert {conv.out_channels for conv in convolutions} == {128}


def test_pooling_and_projection_widths(aspp: nn.Module) -> None:
    assert _convolution(aspp.pooling).out_channels == 24
    projection = _convolution(aspp.projection)
    assert (projection.in_channels, projection.out_channels) == (24 + 4 * 128, 128)
    features = torch.randn(1, _convolution(aspp.pooling).in_channels, 5, 7)
    assert aspp.eval()(features).shape == (1, 128, 5, 7)
