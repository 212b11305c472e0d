"""Training stability: early stopping never ends a run before ``min_epochs`` (issue 17, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from facetransfer.training import DetectionTask, TrainConfig, device_settings, fit

CPU = device_settings("cpu")


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x).squeeze(1)


def _rising_validation_loss(tmp_path: Path, **settings: int) -> tuple[object, _Linear]:
    """Fit a tiny model whose validation loss rises every epoch (its labels are the training
    labels inverted): with patience 2, early stopping would end the run after epoch 3."""
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 8)
    labels = torch.tensor([1.0, 0.0] * 8)
    train = DataLoader(TensorDataset(features, labels), batch_size=4)
    val = DataLoader(TensorDataset(features, 1 - labels), batch_size=4)
    torch.manual_seed(0)
    model = _Linear()
    result = fit(
        model,
        train,
        val,
        DetectionTask(nn.BCEWithLogitsLoss()),
        config=TrainConfig(epochs=10, patience=2, learning_rate=0.1, **settings),
        settings=CPU,
        checkpoint_path=tmp_path / "checkpoint.pt",
    )
    return result, model


def test_early_stopping_waits_for_min_epochs(tmp_path: Path) -> None:
    without, _ = _rising_validation_loss(tmp_path / "without")
    assert without.stopped_early and without.epochs_run == 3  # what min_epochs prevents

    result, _ = _rising_validation_loss(tmp_path / "with", min_epochs=5)
    validation_losses = [record["val_loss"] for record in result.history]
    assert validation_losses == sorted(validation_losses), "the validation loss rises every epoch"
    assert result.epochs_run == 5, "training continued past the epoch where patience ran out"
    assert result.stopped_early, "after min_epochs, early stopping acts as before"
    assert result.best_epoch == 1, "the weights kept are still those of the lowest validation loss"


def test_min_epochs_beyond_epochs_means_no_early_stop(tmp_path: Path) -> None:
    # A backbone override may shorten `epochs` below the shared `min_epochs`: that is not an error.
    result, _ = _rising_validation_loss(tmp_path, min_epochs=20)
    assert result.epochs_run == 10 and not result.stopped_early


def test_min_epochs_is_validated_and_part_of_the_checkpoint_key() -> None:
    from facetransfer.training.tasks import _run_key

    with pytest.raises(ValueError, match="min_epochs"):
        TrainConfig(min_epochs=-1)
    assert TrainConfig().min_epochs == 0, "library default: early stopping as before"
    import pandas as pd

    frame = pd.DataFrame({"path": ["a.png"], "label": [0], "sha256": ["x"]})
    assert _run_key("detection", TrainConfig(), (frame, frame)) != _run_key(
        "detection", TrainConfig(min_epochs=4), (frame, frame)
    ), "a run with another min_epochs must not resume a finished checkpoint"
