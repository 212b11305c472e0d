"""Class-weighted losses (paper, section 3: weights from class numerosity against imbalance).

Segmentation uses **median-frequency balancing** (Eigen & Fergus, 2015): with ``f_c`` the
fraction of training pixels of class ``c``, ``w_c = (median(f) / f_c) ** power`` over the classes
that occur. The median class gets weight 1, rare classes (teeth, glasses) more, background and
skin less. ``power`` 1 is the original balancing; on face crops, where background and skin hold
most pixels and teeth a thousandth of them, it spans a factor of ~1000 and the model learns to
paint small parts over background and skin (pixel accuracy falls below that of predicting
background everywhere). ``power`` 0.5 (the square root) keeps the ranking of the classes and
spans ~30. A class with no training pixel gets the largest weight among the present classes, so
that it is not ignored if it shows up in validation data.

Detection uses BCE-with-logits with ``pos_weight = n_real / n_fake`` (fake is the positive class),
which balances the two classes' total contribution.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from facetransfer.classes import UNKNOWN_CLASS

logger = logging.getLogger(__name__)


def pixel_class_counts(masks: Iterable[np.ndarray], num_classes: int) -> np.ndarray:
    """Count pixels per class, streaming over ``masks`` (one mask in memory at a time).

    Args:
        masks: iterable of integer class-id arrays; ``UNKNOWN_CLASS`` pixels are skipped.
        num_classes: number of classes.

    Returns:
        ``(num_classes,)`` int64 pixel counts.

    Raises:
        ValueError: a mask holds an id ``>= num_classes`` other than ``UNKNOWN_CLASS``.
    """
    counts = np.zeros(num_classes, dtype=np.int64)
    for mask in masks:
        values = np.asarray(mask).ravel()
        per_value = np.bincount(values, minlength=num_classes)
        beyond = per_value[num_classes:]
        invalid = np.flatnonzero(beyond) + num_classes
        invalid = invalid[invalid != UNKNOWN_CLASS]
        if invalid.size:
            raise ValueError(f"mask holds class ids {invalid.tolist()} outside 0..{num_classes - 1}")
        counts += per_value[:num_classes]
    return counts


def median_frequency_weights(counts: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Median-frequency class weights from pixel counts (see the module docstring).

    Args:
        counts: ``(num_classes,)`` pixel counts of the training split.
        power: exponent applied to the balancing ratios (1: original, 0.5: square root,
            0: no weighting).

    Returns:
        ``(num_classes,)`` float32 weights.

    Raises:
        ValueError: no pixel was counted at all, or ``power`` is negative.
    """
    if power < 0:
        raise ValueError(f"class weight power must be >= 0, got {power}")
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    if not present.any():
        raise ValueError("cannot compute class weights: the training masks hold no pixels")
    frequencies = counts / counts.sum()
    weights = np.zeros_like(frequencies)
    weights[present] = (np.median(frequencies[present]) / frequencies[present]) ** power
    if not present.all():
        logger.warning(
            "classes %s have no training pixels; they get the largest weight",
            np.flatnonzero(~present).tolist(),
        )
        weights[~present] = weights[present].max()
    return weights.astype(np.float32)


def segmentation_criterion(class_weights: np.ndarray | torch.Tensor) -> nn.CrossEntropyLoss:
    """Class-weighted cross entropy over per-pixel logits; ``UNKNOWN_CLASS`` pixels are ignored."""
    weight = torch.as_tensor(np.asarray(class_weights), dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weight, ignore_index=UNKNOWN_CLASS)


def detection_pos_weight(labels: Iterable[int]) -> float:
    """``n_real / n_fake`` for labels 0 (real) and 1 (fake).

    Raises:
        ValueError: one of the classes is absent (a detector cannot be trained without both).
    """
    values = np.asarray(list(labels))
    n_fake = int((values == 1).sum())
    n_real = int((values == 0).sum())
    if n_fake == 0 or n_real == 0:
        raise ValueError(f"detection training needs real and fake images; got {n_real} real, {n_fake} fake")
    return n_real / n_fake


def detection_criterion(pos_weight: float) -> nn.BCEWithLogitsLoss:
    """BCE on logits with the fake class weighted by ``pos_weight``."""
    return nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float(pos_weight)))
