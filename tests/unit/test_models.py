"""Shared model tester over both backbones x {segmenter, detector}, plus construction rules."""

from __future__ import annotations

import io
import logging
import socket
import urllib.request
from pathlib import Path

import pytest
import torch
from torch import nn

from facetransfer.config import ModelTrainingSettings
from facetransfer.models import (
    BACKBONES,
    VARIANTS,
    build_detector,
    build_segmenter,
    count_parameters,
)
from facetransfer.models.backbones import get_backbone_spec
from facetransfer.models.pretrained import cached_weight_file

PAPER_PARAMETERS = {"resnet50": 15_411_966, "mobilenet_v3_large": 5_815_646}
SIZE = 64


def _build(backbone: str, kind: str) -> nn.Module:
    torch.manual_seed(0)
    return build_segmenter(backbone) if kind == "segmenter" else build_detector(backbone, "none")


@pytest.fixture(
    scope="module", params=[(b, k) for b in BACKBONES for k in ("segmenter", "detector")], ids=str
)
def built(request: pytest.FixtureRequest) -> tuple[str, str, nn.Module]:
    backbone, kind = request.param
    return backbone, kind, _build(backbone, kind)


def test_forward_backward_shapes(built: tuple[str, str, nn.Module]) -> None:
    backbone, kind, model = built
    model.train()
    images = torch.randn(2, 3, SIZE, SIZE)
    outputs = model(images)
    expected = (2, 14, SIZE, SIZE) if kind == "segmenter" else (2,)
    assert tuple(outputs.shape) == expected
    outputs.float().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    model.zero_grad(set_to_none=True)
    assert model.backbone_name == backbone
    assert model.pretrained_loaded is False


def test_save_load_round_trip_gives_identical_outputs(built: tuple[str, str, nn.Module]) -> None:
    backbone, kind, model = built
    model.eval()
    images = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = model(images)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(123)  # a differently initialised twin
    twin = build_segmenter(backbone) if kind == "segmenter" else build_detector(backbone, "none")
    twin.load_state_dict(torch.load(buffer, weights_only=True))
    twin.eval()
    # The whole pickled module (as MLflow stores it) must round-trip too.
    pickled = io.BytesIO()
    torch.save(model, pickled)
    pickled.seek(0)
    unpickled = torch.load(pickled, weights_only=False).eval()
    with torch.no_grad():
        assert torch.equal(twin(images), expected)
        assert torch.equal(unpickled(images), expected)


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_segmenter_parameter_count_within_one_percent_of_paper(backbone: str) -> None:
    count = count_parameters(build_segmenter(backbone, num_classes=14))
    assert abs(count - PAPER_PARAMETERS[backbone]) / PAPER_PARAMETERS[backbone] < 0.01, count


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_backbone_is_truncated_after_high_level_tap(backbone: str) -> None:
    model = build_segmenter(backbone)
    names = {name for name, _ in model.backbone.named_modules()}
    unused = ("layer4", "fc", "layer3.5.conv3") if backbone == "resnet50" else ("features.14", "classifier")
    assert not [name for name in names if name.startswith(unused)]


def test_mobilenet_batchnorm_momentum_is_fixed() -> None:
    model = build_segmenter("mobilenet_v3_large")
    momenta = {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert momenta == {0.1}


def test_invalid_arguments_raise_with_valid_values() -> None:
    with pytest.raises(ValueError, match="resnet50"):
        build_segmenter("vgg16")
    with pytest.raises(ValueError, match="none, last, all"):
        build_detector("mobilenet_v3_large", "some")
    with pytest.raises(ValueError, match="segmenter"):
        build_detector("mobilenet_v3_large", "last")
    with pytest.raises(ValueError, match="multiple of 32"):
        build_segmenter("mobilenet_v3_large")(torch.randn(1, 3, 48, 48))
    assert VARIANTS == ("none", "last", "all")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_pretrained_with_empty_cache_warns_and_stays_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, no_network: None
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING):
        model = build_segmenter("mobilenet_v3_large", pretrained=True)
    assert model.pretrained_loaded is False
    assert "random initialisation" in caplog.text
    assert not any(tmp_path.rglob("*.pth"))


def test_pretrained_loads_weights_present_in_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = get_backbone_spec("mobilenet_v3_large")
    torch.manual_seed(7)
    reference = spec.constructor(weights=None)
    target = tmp_path / "hub" / "checkpoints" / Path(spec.weights.DEFAULT.url).name
    target.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), target)
    assert cached_weight_file(spec.weights) == target

    model = build_segmenter("mobilenet_v3_large", pretrained=True)
    assert model.pretrained_loaded is True
    loaded = model.backbone.state_dict()
    assert torch.equal(loaded["features.0.0.weight"], reference.state_dict()["features.0.0.weight"])
    assert torch.equal(
        loaded["features.13.block.3.1.running_var"], reference.features[13].block[3][1].running_var
    )


def test_pretrained_download_is_opt_in_uses_the_cache_first_and_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = get_backbone_spec("mobilenet_v3_large")
    target = tmp_path / "hub" / "checkpoints" / Path(spec.weights.DEFAULT.url).name
    # Offline and nothing cached: the download is attempted (refused here) and named in the error.
    with pytest.raises(RuntimeError, match=r"could not fetch https://.*mobilenet_v3_large") as raised:
        build_segmenter("mobilenet_v3_large", pretrained="download")
    assert str(target) in str(raised.value)
    # With the file in the cache, "download" needs no network at all.
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(spec.constructor(weights=None).state_dict(), target)
    assert build_segmenter("mobilenet_v3_large", pretrained="download").pretrained_loaded is True
    assert ModelTrainingSettings(pretrained="download").pretrained == "download"
    with pytest.raises(ValueError, match="pretrained"):
        ModelTrainingSettings(pretrained="always")
