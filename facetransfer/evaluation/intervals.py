"""Bootstrap confidence intervals of detection metrics, and the paired bootstrap of two detectors.

Resampling is ``scipy.stats.bootstrap``, stratified by class: the indices of the real images and
those of the fake images go in as two samples with ``paired=False``, so scipy resamples each
class on its own and keeps its size. Every resample therefore holds as many real and fake images
as the data (ROC-AUC and AP stay defined; precision, which depends on the class balance, is not
moved by a resample that happens to draw fewer fakes). Intervals are percentile intervals, and
the generator is seeded: the same scores give the same interval on every machine.

The metrics of a resample are computed for all resamples at once (one vectorised call per
group): the confusion counts give accuracy, precision, recall and F1 (the paper's Eq. 1, 0 where
undefined, as scikit-learn's ``zero_division=0``); ROC-AUC is the Mann-Whitney statistic from
``scipy.stats.rankdata`` (ties count one half, as in ``roc_auc_score``); AP is the step-wise sum
of ``average_precision_score`` (one step per distinct score). Calling scikit-learn once per
resample costs about 1 ms per metric, i.e. 6 metrics x 1000 resamples x ~10 groups x 6
detectors, several minutes of the demo's 2-core budget; on the unresampled data these formulas
give exactly ``detection_metrics`` (``tests/unit/test_intervals.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import bootstrap, rankdata

from facetransfer.evaluation.detection_metrics import as_label_score_arrays
from facetransfer.registry.promotion import PairedDifference

INTERVAL_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision")
"""Metrics that get an interval (``<metric>_ci_low`` / ``<metric>_ci_high``)."""

MAX_RESAMPLED_VALUES = 4_000_000
"""Resamples x images held in memory per vectorised call (scipy's ``batch``): ~100 MB of arrays."""


def interval_keys(metric: str) -> tuple[str, str]:
    """Names of the lower and upper bound of ``metric``'s interval in a metrics mapping."""
    return f"{metric}_ci_low", f"{metric}_ci_high"


INTERVAL_BOUNDS = tuple(key for metric in INTERVAL_METRICS for key in interval_keys(metric))
"""Every bound ``metric_intervals`` returns: ``accuracy_ci_low``, ``accuracy_ci_high``, ..."""


def resampled_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """``INTERVAL_METRICS`` along the last axis of ``labels`` / ``scores`` (any leading shape).

    Returns:
        ``(6, *leading shape)`` array in the order of ``INTERVAL_METRICS``; ROC-AUC is NaN without
        both classes, AP NaN without fakes.
    """
    positive = np.asarray(labels) == 1
    scores = np.asarray(scores, dtype=np.float64)
    predicted = scores >= threshold
    n = positive.shape[-1]
    tp = (predicted & positive).sum(axis=-1)
    fp = (predicted & ~positive).sum(axis=-1)
    n_fake = positive.sum(axis=-1)
    fn = n_fake - tp
    tn = n - n_fake - fp
    return np.stack(
        [
            (tp + tn) / n,
            _ratio(tp, tp + fp),
            _ratio(tp, n_fake),
            _ratio(2 * tp, 2 * tp + fp + fn),
            _roc_auc(positive, scores, n_fake),
            _average_precision(positive, scores, n_fake),
        ]
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    numerator, denominator = np.asarray(numerator, dtype=np.float64), np.asarray(denominator)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _roc_auc(positive: np.ndarray, scores: np.ndarray, n_fake: np.ndarray) -> np.ndarray:
    """Mann-Whitney U of the fakes' scores over the reals', divided by the number of pairs."""
    n_real = positive.shape[-1] - n_fake
    rank_sum = np.where(positive, rankdata(scores, axis=-1), 0.0).sum(axis=-1)
    pairs = (n_fake * n_real).astype(np.float64)
    u_statistic = rank_sum - n_fake * (n_fake + 1) / 2
    return np.divide(u_statistic, pairs, out=np.full_like(pairs, np.nan), where=pairs > 0)


def _average_precision(positive: np.ndarray, scores: np.ndarray, n_fake: np.ndarray) -> np.ndarray:
    """Sum over distinct scores (descending) of (recall gained) x (precision there)."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    ordered_scores = np.take_along_axis(scores, order, axis=-1)
    true_positives = np.cumsum(np.take_along_axis(positive, order, axis=-1), axis=-1)
    precision = true_positives / np.arange(1, scores.shape[-1] + 1)
    # A threshold sits at the last image of each run of equal scores.
    step = np.ones_like(ordered_scores, dtype=bool)
    step[..., :-1] = ordered_scores[..., :-1] != ordered_scores[..., 1:]
    reached = np.maximum.accumulate(np.where(step, true_positives, 0), axis=-1)
    before = np.zeros_like(reached)
    before[..., 1:] = reached[..., :-1]
    gained = np.where(step, (true_positives - before) * precision, 0.0).sum(axis=-1)
    n_fake = np.asarray(n_fake, dtype=np.float64)
    return np.divide(gained, n_fake, out=np.full_like(n_fake, np.nan), where=n_fake > 0)


def stratified_bootstrap(
    labels: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_resamples: int,
    confidence_level: float,
    seed: int,
) -> Any | None:
    """``scipy.stats.bootstrap`` of ``statistic(indices)``, resampling real and fake indices apart.

    Args:
        labels: 0 (real) / 1 (fake) per image.
        statistic: maps an ``(..., n)`` array of image indices (each row one resample, the real
            images' indices first) to the statistic along the last axis.
        n_resamples: bootstrap resamples.
        confidence_level: level of the percentile interval.
        seed: seed of the resampling.

    Returns:
        scipy's ``BootstrapResult``; ``None`` when a class present has a single image (nothing
        to resample) or there are no images.
    """
    strata = tuple(np.flatnonzero(labels == label) for label in (0, 1) if (labels == label).any())
    if not strata or min(len(indices) for indices in strata) < 2:
        return None

    def on_indices(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return statistic(np.concatenate(samples, axis=axis))

    return bootstrap(
        strata,
        on_indices,
        n_resamples=n_resamples,
        batch=max(1, MAX_RESAMPLED_VALUES // labels.size),
        vectorized=True,
        paired=False,
        axis=-1,
        confidence_level=confidence_level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )


def metric_intervals(
    y_true: Any,
    scores: Any,
    threshold: float,
    *,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Percentile bootstrap intervals of ``INTERVAL_METRICS``, resampled within each class.

    Args:
        y_true: 0 (real) / 1 (fake) labels.
        scores: fake probabilities.
        threshold: decision threshold (``score >= threshold`` is fake), held fixed.
        n_resamples: bootstrap resamples.
        confidence_level: e.g. 0.95.
        seed: seed of the resampling.

    Returns:
        ``{"<metric>_ci_low": ..., "<metric>_ci_high": ...}`` for every metric; NaN where the
        metric is undefined (ROC-AUC with one class) or a class has a single image.

    Raises:
        ValueError: mismatched lengths, labels other than 0/1, ``n_resamples < 1`` or a
            confidence level outside (0, 1).
    """
    labels, values = as_label_score_arrays(y_true, scores)
    _check_bootstrap_settings(n_resamples, confidence_level)
    intervals = dict.fromkeys(INTERVAL_BOUNDS, math.nan)
    if labels.size == 0:
        return intervals
    # Stratified resamples keep the classes present, so a metric undefined on the data (ROC-AUC
    # with one class) is undefined on every resample: leave it out rather than resample NaNs.
    defined = np.flatnonzero(np.isfinite(resampled_metrics(labels, values, threshold)))
    result = stratified_bootstrap(
        labels,
        lambda indices: resampled_metrics(labels[indices], values[indices], threshold)[defined],
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        seed=seed,
    )
    if result is None:
        return intervals
    lows = np.atleast_1d(result.confidence_interval.low)
    highs = np.atleast_1d(result.confidence_interval.high)
    for row, position in enumerate(defined):
        low_key, high_key = interval_keys(INTERVAL_METRICS[position])
        intervals[low_key], intervals[high_key] = float(lows[row]), float(highs[row])
    return intervals


def paired_bootstrap(
    y_true: Any,
    challenger_scores: Any,
    champion_scores: Any,
    *,
    metric: str,
    challenger_threshold: float,
    champion_threshold: float,
    n_resamples: int = 1000,
    confidence_level: float = 0.90,
    seed: int = 0,
) -> PairedDifference:
    """Paired, class-stratified bootstrap of ``metric(challenger) - metric(champion)`` on the same images.

    Both detectors are scored on every resample of the same images, each at its own threshold.
    The one-sided p-value of "the challenger is no better" is the share of resampled differences
    at or below zero, ``(1 + #{d* <= 0}) / (n_resamples + 1)``: it is below ``alpha`` exactly when
    the lower end of the ``1 - 2 alpha`` percentile interval is above zero.

    Args:
        y_true: labels of the images both detectors scored (row i of every array is one image).
        challenger_scores: the new detector's fake probabilities.
        champion_scores: the model in service's fake probabilities.
        metric: one of ``INTERVAL_METRICS``.
        challenger_threshold: the challenger's decision threshold.
        champion_threshold: the champion's decision threshold.
        n_resamples: bootstrap resamples.
        confidence_level: level of the interval of the difference (promotion passes ``1 - 2 alpha``).
        seed: seed of the resampling.

    Returns:
        The difference on the data, its interval and the p-value (NaN where the metric is undefined
        or a class has a single image).

    Raises:
        ValueError: unknown metric, mismatched lengths or invalid labels.
    """
    if metric not in INTERVAL_METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(INTERVAL_METRICS)}")
    labels, new = as_label_score_arrays(y_true, challenger_scores)
    _, old = as_label_score_arrays(y_true, champion_scores)
    _check_bootstrap_settings(n_resamples, confidence_level)
    position = INTERVAL_METRICS.index(metric)

    def difference(indices: np.ndarray) -> np.ndarray:
        resampled = labels[indices]
        return (
            resampled_metrics(resampled, new[indices], challenger_threshold)[position]
            - resampled_metrics(resampled, old[indices], champion_threshold)[position]
        )

    observed = float(difference(np.arange(labels.size))) if labels.size else math.nan
    result = None
    if math.isfinite(observed):  # else undefined on every (stratified) resample too
        result = stratified_bootstrap(
            labels, difference, n_resamples=n_resamples, confidence_level=confidence_level, seed=seed
        )
    low = high = p_value = math.nan
    if result is not None:
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        at_or_below_zero = int(np.count_nonzero(result.bootstrap_distribution <= 0))
        p_value = (1 + at_or_below_zero) / (n_resamples + 1)
    return PairedDifference(
        metric=metric,
        difference=observed,
        ci_low=low,
        ci_high=high,
        confidence_level=confidence_level,
        p_value=p_value,
        n_images=int(labels.size),
        n_resamples=n_resamples,
    )


def _check_bootstrap_settings(n_resamples: int, confidence_level: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
