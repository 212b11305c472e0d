"""Streaming confusion matrix for segmentation: pixel accuracy (paper Table 1), per-class IoU, mIoU."""

from __future__ import annotations

import numpy as np
import torch


class SegmentationConfusion:
    """Confusion matrix accumulated batch by batch (rows: true class, columns: predicted class).

    Pixels whose target is ``UNKNOWN_CLASS`` (or any id ``>= num_classes``) are ignored.

    Args:
        num_classes: number of classes.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, prediction: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """Add a batch of predicted and true class ids (same shape, any device)."""
        predicted = torch.as_tensor(prediction)
        truth = torch.as_tensor(target, device=predicted.device)
        if predicted.shape != truth.shape:
            raise ValueError(
                f"prediction shape {tuple(predicted.shape)} != target shape {tuple(truth.shape)}"
            )
        valid = truth < self.num_classes
        flat = truth[valid].long() * self.num_classes + predicted[valid].long()
        counts = torch.bincount(flat, minlength=self.num_classes**2)
        self.matrix += counts.cpu().numpy().reshape(self.num_classes, self.num_classes)

    @property
    def pixel_accuracy(self) -> float:
        """Fraction of counted pixels predicted correctly (NaN before any update)."""
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def iou(self) -> np.ndarray:
        """Per-class intersection over union; NaN for a class absent from targets and predictions."""
        intersection = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - intersection
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, intersection / union, np.nan)

    @property
    def mean_iou(self) -> float:
        """Mean IoU over classes present in targets or predictions."""
        values = self.iou()
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
