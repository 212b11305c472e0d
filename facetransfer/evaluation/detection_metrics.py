"""Real-vs-generated detection metrics, overall and per group (generator, source).

"Fake" (label 1) is the positive class. Accuracy, precision, recall and F1 are the paper's Eq. 1,
computed with scikit-learn from the predictions ``score >= threshold``. Threshold-free metrics
(ROC-AUC, average precision, EER) need both classes: for a group holding only one (e.g. the
images of one generator, all fake) they are NaN rather than an error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

THRESHOLD_RULES = ("max_f1", "eer", "fixed")
OVERALL = "overall"
MISSING_GROUP = "(none)"


def as_label_score_arrays(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(int64 labels, float64 scores)`` as flat arrays, checked: equal lengths, labels 0 or 1."""
    labels = np.asarray(y_true).astype(np.int64).ravel()
    values = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != values.shape:
        raise ValueError(f"{labels.size} labels but {values.size} scores")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake); found {np.unique(labels).tolist()}")
    return labels, values


def equal_error_rate(y_true: Any, scores: Any) -> tuple[float, float]:
    """Equal error rate and the threshold where it occurs.

    The EER is where the false-positive rate equals the false-negative rate (1 - TPR); it is
    linearly interpolated between the two ROC points that bracket the crossing, and the threshold
    returned is that of the ROC point nearer the crossing.

    Returns:
        ``(eer, threshold)``; ``(nan, nan)`` if ``y_true`` holds a single class.
    """
    labels, values = as_label_score_arrays(y_true, scores)
    if np.unique(labels).size < 2:
        return math.nan, math.nan
    fpr, tpr, thresholds = roc_curve(labels, values, drop_intermediate=False)
    gap = fpr - (1.0 - tpr)  # increases along the curve: negative before the crossing
    after = int(np.argmax(gap >= 0))
    if after == 0 or gap[after] == 0:
        return float(fpr[after]), float(min(thresholds[after], np.max(values)))
    before = after - 1
    fraction = -gap[before] / (gap[after] - gap[before])
    eer = fpr[before] + fraction * (fpr[after] - fpr[before])
    nearest = after if fraction >= 0.5 else before
    threshold = thresholds[nearest] if np.isfinite(thresholds[nearest]) else thresholds[after]
    return float(eer), float(threshold)


def _max_f1_threshold(labels: np.ndarray, values: np.ndarray) -> float:
    if not labels.any():
        raise ValueError("cannot choose a threshold maximising F1 without fake (label 1) samples")
    # thresholds: the distinct scores, ascending; entry i holds precision/recall of `score >= t_i`.
    precision, recall, thresholds = precision_recall_curve(labels, values)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    # Every t in (previous distinct score, t_i] gives the predictions of t_i.
    upper = thresholds
    lower = np.r_[-np.inf, thresholds[:-1]]
    best = np.flatnonzero(np.isclose(f1, f1.max(), rtol=0, atol=1e-12))
    # Point of each optimal interval (lower, upper] closest to 0.5, then the closest of those.
    candidates = np.clip(0.5, np.nextafter(lower[best], np.inf), upper[best])
    return float(candidates[np.argmin(np.abs(candidates - 0.5))])


def choose_threshold(y_true: Any, scores: Any, rule: str = "max_f1", fixed: float = 0.5) -> float:
    """Decision threshold on fake probabilities, chosen on the validation split.

    Rules:
        * ``"max_f1"`` (default): among all thresholds maximising F1 on the given data, the one
          closest to 0.5 (an optimum is an interval between two adjacent scores; ties between
          intervals also go to the one closest to 0.5).
        * ``"eer"``: the threshold at the equal error rate.
        * ``"fixed"``: ``fixed`` as given.

    An image is predicted fake when ``score >= threshold``.

    Raises:
        ValueError: unknown rule, or data lacking the classes the rule needs.
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; valid: {', '.join(THRESHOLD_RULES)}")
    if rule == "fixed":
        return float(fixed)
    labels, values = as_label_score_arrays(y_true, scores)
    if rule == "eer":
        _, threshold = equal_error_rate(labels, values)
        if math.isnan(threshold):
            raise ValueError("the EER threshold needs both real and fake samples")
        return threshold
    return _max_f1_threshold(labels, values)


def detection_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> dict[str, float]:
    """All detection metrics for fake probabilities ``scores`` at ``threshold``.

    Returns:
        Dict with ``n, n_real, n_fake, threshold, accuracy, precision, recall, f1, roc_auc,
        average_precision, eer, eer_threshold, tn, fp, fn, tp``. Precision/recall/F1 are 0 when
        undefined (no predicted or no actual fakes); threshold-free metrics NaN with one class.

    Raises:
        ValueError: mismatched lengths, labels other than 0/1, or no samples.
    """
    labels, values = as_label_score_arrays(y_true, scores)
    if labels.size == 0:
        raise ValueError("detection metrics need at least one sample")
    predictions = (values >= threshold).astype(np.int64)
    tn, fp, fn, tp = confusion_matrix(labels, predictions, labels=[0, 1]).ravel()
    both_classes = np.unique(labels).size == 2
    eer, eer_threshold = equal_error_rate(labels, values)
    return {
        "n": int(labels.size),
        "n_real": int((labels == 0).sum()),
        "n_fake": int((labels == 1).sum()),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(labels, predictions)),
        "precision": float(precision_score(labels, predictions, zero_division=0)),
        "recall": float(recall_score(labels, predictions, zero_division=0)),
        "f1": float(f1_score(labels, predictions, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, values)) if both_classes else math.nan,
        "average_precision": float(average_precision_score(labels, values)) if labels.any() else math.nan,
        "eer": eer,
        "eer_threshold": eer_threshold,
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
    }


def grouped_detection_metrics(
    frame: pd.DataFrame,
    by: str,
    threshold: float,
    label_col: str = "label",
    score_col: str = "score",
) -> pd.DataFrame:
    """``detection_metrics`` for each value of column ``by`` plus an ``"overall"`` row.

    Rows whose ``by`` value is missing (e.g. real images have no generator) form the group
    ``"(none)"``.

    Returns:
        One row per group (column ``by`` holds the group name), then the overall row.

    Raises:
        ValueError: a required column is missing.
    """
    missing = [column for column in (by, label_col, score_col) if column not in frame.columns]
    if missing:
        raise ValueError(
            f"grouped metrics need columns {', '.join(missing)}; the frame has {', '.join(frame.columns)}"
        )
    groups = frame[by].astype(object).where(frame[by].notna(), MISSING_GROUP).astype(str)
    rows = []
    for name, group in frame.groupby(groups, sort=True):
        rows.append({by: name, **detection_metrics(group[label_col], group[score_col], threshold)})
    rows.append({by: OVERALL, **detection_metrics(frame[label_col], frame[score_col], threshold)})
    return pd.DataFrame(rows)
