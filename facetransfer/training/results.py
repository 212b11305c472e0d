"""What a training task returns: the trained model and the facts a run records about it."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn


@dataclass
class TrainingResult:
    """A trained model (on CPU, eval mode) and how it was trained.

    Attributes:
        model: the model with its best validation-loss weights.
        backbone: backbone name.
        history: per-epoch dicts (``epoch, train_loss, val_loss, val_<metric>..., seconds``).
        best_epoch: 1-based epoch of the weights kept.
        epochs_run: epochs completed.
        seconds: training wall time (epochs only).
        stopped_early: whether early stopping ended the run.
        parameters: total parameter count.
        trainable_parameters: parameters that were trained.
        pretrained_loaded: whether ImageNet weights initialised the backbone (for transfer
            variants: whether they initialised the segmenter's).
        device: device the model was trained on.
    """

    model: nn.Module
    backbone: str
    history: list[dict[str, float]]
    best_epoch: int
    epochs_run: int
    seconds: float
    stopped_early: bool
    parameters: int
    trainable_parameters: int
    pretrained_loaded: bool
    device: str

    @property
    def best_metrics(self) -> dict[str, float]:
        """The history entry of the best epoch (empty if no epoch ran)."""
        return dict(self.history[self.best_epoch - 1]) if self.best_epoch else {}


@dataclass
class SegmenterTrainingResult(TrainingResult):
    """``TrainingResult`` of a segmenter, with its scheme and the loss's class weights."""

    scheme: str = ""
    class_weights: list[float] = field(default_factory=list)


@dataclass
class DetectorTrainingResult(TrainingResult):
    """``TrainingResult`` of a detector, with its transfer variant and the loss's ``pos_weight``."""

    variant: str = ""
    pos_weight: float = 1.0
