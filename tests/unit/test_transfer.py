"""Transfer semantics of the three variants (paper, Table 2)."""

from __future__ import annotations

import logging

import pytest
import torch

from facetransfer.models import WeightTransferError, build_detector, build_segmenter, count_parameters
from facetransfer.models.aspp import ConvBatchNormReLU
from facetransfer.models.deeplab import ENCODER_DECODER_PREFIXES

BACKBONE = "mobilenet_v3_large"


@pytest.fixture(scope="module")
def segmenter() -> torch.nn.Module:
    """A segmenter whose tensors (weights and BN statistics) differ from any fresh initialisation."""
    torch.manual_seed(1)
    model = build_segmenter(BACKBONE)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor) * 0.01 + 0.001)
    return model.eval()


def _shared_names(model: torch.nn.Module) -> list[str]:
    return [name for name in model.state_dict() if name.startswith(ENCODER_DECODER_PREFIXES)]


def test_all_copies_every_tensor_and_trains_everything(
    segmenter: torch.nn.Module, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        detector = build_detector(BACKBONE, "all", segmenter)
    source, target = segmenter.state_dict(), detector.state_dict()
    names = _shared_names(detector)
    assert len(names) > 300
    assert all(torch.equal(target[name], source[name]) for name in names)
    assert f"transferred {len(names)} tensors" in caplog.text
    assert count_parameters(detector, trainable_only=True) == count_parameters(detector)
    assert detector.variant == "all"


def test_none_ignores_the_segmenter(segmenter: torch.nn.Module) -> None:
    detector = build_detector(BACKBONE, "none", segmenter)
    name = "aspp.branches.3.0.weight"
    assert not torch.equal(detector.state_dict()[name], segmenter.state_dict()[name])


def test_last_freezes_aspp_and_decoder_after_an_optimiser_step(segmenter: torch.nn.Module) -> None:
    detector = build_detector(BACKBONE, "last", segmenter)
    detector.train()
    assert not detector.aspp.training and not detector.decoder.training
    assert detector.backbone.training and detector.head.training
    before = {name: tensor.clone() for name, tensor in detector.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in detector.parameters() if p.requires_grad], lr=1e-3)
    logits = detector(torch.randn(4, 3, 64, 64))
    torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor([0.0, 1.0, 0.0, 1.0])
    ).backward()
    optimizer.step()
    after = detector.state_dict()

    frozen = [name for name in after if name.startswith(("aspp.", "decoder."))]
    assert frozen and all(torch.equal(after[name], before[name]) for name in frozen)  # incl. BN statistics
    for prefix in ("backbone.", "head."):
        weights = [n for n in after if n.startswith(prefix) and n.endswith("weight")]
        assert any(not torch.equal(after[n], before[n]) for n in weights), prefix
    assert count_parameters(detector, trainable_only=True) < count_parameters(detector)


def test_different_aspp_shape_raises_naming_the_tensor() -> None:
    torch.manual_seed(0)
    mismatched = build_segmenter(BACKBONE)
    mismatched.aspp.branches[3] = ConvBatchNormReLU(
        160, 128, kernel_size=3, dilation=16
    )  # Keras-script kernels
    with pytest.raises(WeightTransferError, match=r"aspp\.branches\.3\.0\.weight"):
        build_detector(BACKBONE, "all", mismatched)


def test_segmenter_of_another_backbone_is_refused(segmenter: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="mobilenet_v3_large"):
        build_detector("resnet50", "last", segmenter)
