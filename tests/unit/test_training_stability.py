"""Training stability: early stopping never ends a run before ``min_epochs`` (issue 17, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from facetransfer.training import DetectionTask, TrainConfig, device_settings, fit
from tests.rising_validation import TinyLinear, rising_validation_problem

CPU = device_settings("cpu")


def _rising_validation_loss(tmp_path: Path, **settings: int) -> tuple[object, TinyLinear]:
    """Fit the tiny problem whose validation loss rises every epoch (``tests.rising_validation``):
    with patience 2, early stopping would end the run after epoch 3."""
    model, train, val = rising_validation_problem()
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
