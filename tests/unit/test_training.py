"""Training: losses, learning actually happens, early stopping, checkpoint/resume, determinism."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from facetransfer.classes import MUT1NY_14, UNKNOWN_CLASS
from facetransfer.inputs.datasets import SegmentationDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.models import build_segmenter
from facetransfer.runtime.device import cpu_threads, deterministic_algorithms
from facetransfer.runtime.loaders import build_loader
from facetransfer.training import (
    DetectionTask,
    SegmentationTask,
    TrainConfig,
    detection_pos_weight,
    device_settings,
    fit,
    median_frequency_weights,
    pixel_class_counts,
    segmentation_criterion,
    train_detector,
    train_one_epoch,
    train_segmenter,
)
from facetransfer.training.fit import learning_rate_at
from facetransfer.training.tasks import _run_key
from tests.rising_validation import rising_validation_problem

BACKBONE = "mobilenet_v3_large"
CPU = device_settings("cpu")


def test_pixel_counts_stream_and_skip_unknown() -> None:
    masks = (np.array([[0, 0, 1], [2, UNKNOWN_CLASS, 1]], dtype=np.uint8) for _ in range(3))
    assert pixel_class_counts(masks, 4).tolist() == [6, 6, 3, 0]
    with pytest.raises(ValueError, match=r"\[7\]"):
        pixel_class_counts([np.array([7], dtype=np.uint8)], 4)


def test_median_frequency_weights() -> None:
    weights = median_frequency_weights(np.array([600, 300, 100, 0]))
    # frequencies 0.6, 0.3, 0.1 -> median 0.3 -> weights 0.5, 1, 3; absent class gets the max.
    assert np.allclose(weights, [0.5, 1.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="no pixels"):
        median_frequency_weights(np.zeros(3))


def test_median_frequency_weights_power_softens_the_balance() -> None:
    counts = np.array([600, 300, 100, 0])
    assert np.allclose(median_frequency_weights(counts, power=0.5), np.sqrt([0.5, 1.0, 3.0, 3.0]))
    assert np.allclose(median_frequency_weights(counts, power=0.0), 1.0)
    with pytest.raises(ValueError, match="power"):
        median_frequency_weights(counts, power=-1.0)


def test_cosine_learning_rate_starts_at_the_configured_rate_and_decays() -> None:
    config = TrainConfig(epochs=4, learning_rate=1e-3, learning_rate_schedule="cosine")
    rates = [learning_rate_at(config, epoch) for epoch in range(4)]
    assert rates[0] == 1e-3 and all(a > b > 0 for a, b in pairwise(rates)), rates
    assert learning_rate_at(TrainConfig(epochs=4, learning_rate=1e-3), 3) == 1e-3


def test_pos_weight_is_real_to_fake_ratio() -> None:
    assert detection_pos_weight([0, 0, 0, 1]) == 3.0
    with pytest.raises(ValueError, match="real and fake"):
        detection_pos_weight([1, 1])


def test_config_rejects_invalid_values() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        TrainConfig(image_size=50)
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(ValueError, match="learning_rate_schedule"):
        TrainConfig(learning_rate_schedule="step")
    with pytest.raises(ValueError, match="class_weight_power"):
        TrainConfig(class_weight_power=-0.5)


def test_runtime_blocks_restore_global_settings() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic_algorithms(True):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before
    threads = torch.get_num_threads()
    with cpu_threads(threads + 1):
        assert torch.get_num_threads() == threads + 1
    assert torch.get_num_threads() == threads


def test_segmentation_loss_halves_within_a_few_dozen_steps(write_segmentation_data: Callable) -> None:
    dataset = SegmentationDataset(
        write_segmentation_data(4),
        preprocessing=Preprocessing.for_backbone(BACKBONE, 64),
        scheme=MUT1NY_14,
        augment=False,
        cache="memory",
    )
    torch.manual_seed(0)
    model = build_segmenter(BACKBONE)
    weights = median_frequency_weights(pixel_class_counts(dataset.iter_masks(), MUT1NY_14.num_classes))
    task = SegmentationTask(segmentation_criterion(weights), MUT1NY_14.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = build_loader(dataset, batch_size=4, settings=CPU, shuffle_seed=0)
    losses = [train_one_epoch(model, loader, optimizer, task, CPU) for _ in range(15)]
    assert np.mean(losses[-3:]) <= 0.5 * losses[0], losses


def test_early_stopping_restores_the_best_weights(tmp_path: Path) -> None:
    # Validation labels are the opposite of training labels: validation loss rises every epoch.
    model, train, val = rising_validation_problem()
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def remember(epoch: int, metrics: dict[str, float]) -> None:
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    result = fit(
        model,
        train,
        val,
        DetectionTask(nn.BCEWithLogitsLoss()),
        config=TrainConfig(epochs=10, patience=2, learning_rate=0.1),
        settings=CPU,
        checkpoint_path=tmp_path / "checkpoint.pt",
        epoch_callback=remember,
    )
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_accuracy", "val_f1"} <= set(result.history[0])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in snapshots[1].items())
    assert not torch.equal(model.state_dict()["layer.weight"], snapshots[3]["layer.weight"])


def _without_seconds(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{key: value for key, value in record.items() if key != "seconds"} for record in history]


class _InterruptedError(Exception):
    """Simulates a crash (e.g. a killed process) after an epoch."""


def test_resume_after_interruption_matches_uninterrupted_run(
    write_segmentation_data: Callable, tmp_path: Path
) -> None:
    frame = write_segmentation_data(10)
    config = TrainConfig(
        epochs=3, batch_size=4, image_size=32, patience=5, seed=3, learning_rate_schedule="cosine"
    )

    def run(checkpoint_dir: Path, callback: Callable | None = None):
        return train_segmenter(
            frame.iloc[:8],
            frame.iloc[8:],
            backbone=BACKBONE,
            scheme=MUT1NY_14,
            config=config,
            checkpoint_dir=checkpoint_dir,
            epoch_callback=callback,
        )

    reference = run(tmp_path / "uninterrupted")
    repeat = run(tmp_path / "repeat")
    assert _without_seconds(repeat.history) == _without_seconds(reference.history)

    def crash_after_first_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 1:
            raise _InterruptedError

    with pytest.raises(_InterruptedError):
        run(tmp_path / "interrupted", crash_after_first_epoch)
    seen: list[int] = []
    resumed = run(tmp_path / "interrupted", lambda epoch, metrics: seen.append(epoch))
    assert seen == [2, 3]
    reference_state, resumed_state = reference.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(resumed_state[name], tensor) for name, tensor in reference_state.items())
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in reference.history]

    # A finished run is not repeated: the rerun returns the stored best weights at once.
    seen.clear()
    rerun = run(tmp_path / "interrupted", lambda epoch, metrics: seen.append(epoch))
    assert seen == [] and rerun.epochs_run == 3
    assert all(torch.equal(rerun.model.state_dict()[name], t) for name, t in reference_state.items())
    assert len(reference.class_weights) == MUT1NY_14.num_classes and reference.device == "cpu"


def test_detector_separates_two_trivially_different_classes(
    write_detection_data: Callable, tmp_path: Path
) -> None:
    frame = write_detection_data(40, size=32)
    result = train_detector(
        frame.iloc[:32],
        frame.iloc[32:],
        backbone=BACKBONE,
        variant="none",
        segmenter=None,
        config=TrainConfig(epochs=4, batch_size=8, image_size=32, patience=4),
        checkpoint_dir=tmp_path,
    )
    assert result.history[result.best_epoch - 1]["val_accuracy"] == 1.0, result.history
    assert result.pos_weight == 1.0 and result.variant == "none" and not result.model.training


def test_a_checkpoint_is_keyed_by_file_content_not_only_by_paths() -> None:
    frame = pd.DataFrame({"path": ["a.png"], "label": [0], "sha256": ["x"]})
    key = _run_key("detector", TrainConfig(), (frame, frame))
    assert _run_key("detector", TrainConfig(), (frame.copy(), frame)) == key
    assert _run_key("detector", TrainConfig(), (frame.assign(sha256="y"), frame)) != key


def test_transferred_layers_train_at_their_own_rate_selected_by_name() -> None:
    import copy

    from facetransfer.models import build_detector
    from facetransfer.training.fit import ParameterGroup, build_optimizer, learning_rate_at
    from facetransfer.training.tasks import detector_parameter_groups

    torch.manual_seed(0)
    segmenter = build_segmenter(BACKBONE)
    detector = build_detector(BACKBONE, "last", segmenter=segmenter)
    config = TrainConfig(
        learning_rate=2e-3, transferred_learning_rate_scale=0.1, learning_rate_schedule="cosine"
    )
    groups = detector_parameter_groups(detector, config.transferred_learning_rate_scale)
    replica = copy.deepcopy(detector)  # what data-parallel training optimises: another copy
    optimizer = build_optimizer(replica, config, groups)
    by_name = {group["name"]: group for group in optimizer.param_groups}
    assert by_name["head"]["lr"] == pytest.approx(2e-3) and by_name["body"]["lr"] == pytest.approx(2e-4)
    replica_ids = {id(p) for p in replica.parameters()}
    assert all(id(p) in replica_ids for group in optimizer.param_groups for p in group["params"])
    frozen = {id(p) for name, p in replica.named_parameters() if name.startswith(("aspp.", "decoder."))}
    assert not frozen & {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert learning_rate_at(config, 4) * by_name["body"]["lr_scale"] < by_name["body"]["lr"]
    untransferred = detector_parameter_groups(build_detector(BACKBONE, "none"), 0.1)
    assert [g.lr_scale for g in untransferred] == [1.0, 1.0]  # random init everywhere: one rate
    with pytest.raises(ValueError, match="in no parameter group"):
        build_optimizer(replica, config, [ParameterGroup("head", ("head.",))])
