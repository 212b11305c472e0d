"""CUDA checks (marker ``gpu``, skipped without a CUDA device).

A training step runs under bf16 autocast with channels-last tensors while the weights stay fp32;
evaluation runs in fp32 (no autocast) and scores agree with the CPU's; and data-parallel training
over two GPUs (nccl) follows the single-GPU loss curve.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from facetransfer.classes import MUT1NY_14
from facetransfer.evaluation import evaluate_segmenter, predict_scores
from facetransfer.inputs.datasets import SegmentationDataset
from facetransfer.models import build_detector, build_segmenter
from facetransfer.runtime.loaders import build_loader
from facetransfer.training import (
    SegmentationTask,
    TrainConfig,
    device_settings,
    segmentation_criterion,
    train_one_epoch,
    train_segmenter,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

BACKBONE = "mobilenet_v3_large"


def _record_conv_calls(model: nn.Module) -> list[tuple[torch.dtype, bool]]:
    """``(output dtype, input is channels-last)`` of every convolution call from now on."""
    calls: list[tuple[torch.dtype, bool]] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        calls.append((output.dtype, inputs[0].is_contiguous(memory_format=torch.channels_last)))

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(hook)
    return calls


def test_training_step_runs_in_bf16_autocast_with_channels_last(write_segmentation_data: Callable) -> None:
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16: training uses fp16 with a GradScaler instead")
    settings = device_settings("cuda", amp=True, num_workers=0)
    assert settings.amp_dtype == torch.bfloat16 and settings.channels_last
    assert not settings.needs_grad_scaler
    dataset = SegmentationDataset(
        write_segmentation_data(8),
        image_size=64,
        backbone=BACKBONE,
        scheme=MUT1NY_14,
        augment=False,
        cache=True,
    )
    torch.manual_seed(0)
    model = settings.prepare_model(build_segmenter(BACKBONE))
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4)
    calls = _record_conv_calls(model)
    task = SegmentationTask(segmentation_criterion(np.ones(MUT1NY_14.num_classes)), MUT1NY_14.num_classes)
    task.criterion.to(settings.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = build_loader(dataset, batch_size=4, settings=settings, shuffle_seed=0)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    losses = [train_one_epoch(model, loader, optimizer, task, settings) for _ in range(12)]

    assert calls and all(dtype == torch.bfloat16 for dtype, _ in calls), set(calls)
    assert calls[0][1], "the image batch enters the network channels-last"
    assert all(p.dtype == torch.float32 and p.device.type == "cuda" for p in model.parameters())
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < 0.8 * losses[0], losses
    changed = [not torch.equal(before[name], p) for name, p in model.named_parameters()]
    assert sum(changed) > 0.9 * len(changed)


def test_evaluation_runs_in_fp32_and_agrees_with_the_cpu(
    write_detection_data: Callable, write_segmentation_data: Callable
) -> None:
    torch.manual_seed(0)
    detector = build_detector(BACKBONE, "none").eval()
    calls = _record_conv_calls(detector)
    frame = write_detection_data(12, size=64)
    on_cpu = predict_scores(detector, frame, image_size=64, backbone=BACKBONE, device="cpu")
    calls.clear()
    on_gpu = predict_scores(detector, frame, image_size=64, backbone=BACKBONE, device="cuda")
    assert calls and all(dtype == torch.float32 for dtype, _ in calls)  # no autocast
    # cuDNN may run fp32 convolutions with TF32 inputs on Ampere and later: close, not identical.
    assert np.allclose(on_gpu, on_cpu, atol=1e-2), np.abs(on_gpu - on_cpu).max()
    assert next(detector.parameters()).device.type == "cpu"  # the model is handed back where it was

    segmenter = build_segmenter(BACKBONE)
    faces = write_segmentation_data(6)
    metrics = [
        evaluate_segmenter(segmenter, faces, scheme=MUT1NY_14, image_size=64, device=device)
        for device in ("cpu", "cuda")
    ]
    assert abs(metrics[0]["pixel_accuracy"] - metrics[1]["pixel_accuracy"]) < 0.01


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpu_processes_follow_the_single_gpu_loss_curve(
    write_segmentation_data: Callable, tmp_path: Path
) -> None:
    frame = write_segmentation_data(40)

    def run(nproc: int) -> list[dict[str, float]]:
        config = TrainConfig(
            epochs=3,
            batch_size=8,
            image_size=64,
            seed=3,
            learning_rate=1e-4,
            device="cuda",
            distributed={"nproc": nproc},
        )
        result = train_segmenter(
            frame.iloc[:32],
            frame.iloc[32:],
            backbone=BACKBONE,
            scheme=MUT1NY_14,
            config=config,
            checkpoint_dir=tmp_path / str(nproc),
        )
        return result.history

    single, parallel = run(1), run(2)
    # bf16 autocast: wider than the CPU fp32 test's tolerances.
    for reference, other in zip(single, parallel, strict=True):
        assert abs(other["train_loss"] / reference["train_loss"] - 1) < 2e-2, (single, parallel)
        assert abs(other["val_loss"] / reference["val_loss"] - 1) < 1e-1, (single, parallel)
