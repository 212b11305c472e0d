"""Calibrated fake probabilities: temperature scaling, expected calibration error, reliability diagrams.

A detector's ``sigmoid(logit)`` is a score, not yet a probability: nothing made 0.9 mean "nine
in ten such images are fake". Temperature scaling (Guo et al., 2017, "On Calibration of Modern
Neural Networks") divides every logit by one number ``T > 0``, fitted on the validation split by
minimising the negative log-likelihood of ``sigmoid(logit / T)`` (``scipy.optimize.minimize_scalar``
on ``log T``, bounded). ``T > 1`` softens an overconfident detector, ``T < 1`` sharpens an
underconfident one. The map is strictly increasing, so rankings (ROC-AUC, AP, EER) do not move,
and the decision threshold re-expressed on the new scale, ``t' = sigmoid(logit(t) / T)``, keeps
every decision; the metrics that change are the calibration metrics.

Logits from scores: evaluation works on ``predict_scores``' probabilities, float32 sigmoid
outputs held in float64. ``logit = log(p) - log1p(-p)`` recovers the logit up to float32's
resolution of ``p``, which near 1 is 2**-24: logits above about 16.6 all come back as about
16.6-17.3. Scores are clipped just beyond float32's extremes (``SCORE_RANGE``), so that no two
distinct scores share a logit. The serving model calibrates its scores with this same function
(``facetransfer.scoring.scorer``), so served probabilities are the evaluated ones, bit for bit.

Thresholds: a threshold chosen between two scores (``max_f1`` picks the point of an optimal
interval closest to 0.5) is first moved up to the next float32 value, which decides every
float32 score as it did, then re-expressed. ``T`` is bounded below so that the re-expressed
threshold stays within ``MAX_THRESHOLD_LOGIT`` of 0 in logit: beyond it float32 scores (the
champion check's) would round onto it. A validation split the detector separates perfectly has
no best ``T`` under the hard labels (the likelihood keeps rising as ``T`` falls): the fit uses
Platt's smoothed targets (``fit_temperature``), which give it one at the sharpness the split's
size supports; should it still reach that bound, it stops there and says so in the log. A
detector at chance on validation stops at the upper bound (probabilities near 0.5). One
parameter scales the logits but cannot shift them: a detector whose logits are biased towards
one class stays miscalibrated by that bias.

Expected calibration error (ECE): the fake probabilities are cut into ``bins`` equal-width bins
of [0, 1]; in each, the share of images that are fake is compared with their mean fake
probability, and the absolute gaps are averaged, weighted by each bin's share of the images.
This is the binary form of "accuracy against confidence" (the reliability of the fake
probability itself, as the API serves it), not the top-label form.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit
from scipy.stats import binned_statistic
from torch import nn

from facetransfer.evaluation.detection_metrics import as_label_score_arrays

logger = logging.getLogger(__name__)

CalibrationMethod = Literal["temperature", "none"]
CALIBRATION_METHODS: tuple[str, ...] = ("temperature", "none")
DEFAULT_BINS = 15
TEMPERATURE_BOUNDS = (0.05, 20.0)
"""Range of the temperature fit (``log T`` is searched between the logs of these)."""
MAX_THRESHOLD_LOGIT = 15.0
"""Largest ``|logit(t')|`` of a re-expressed threshold (float32's resolution near 1 is 2**-24)."""
SCORE_RANGE = (float(np.finfo(np.float32).smallest_subnormal) / 2, 1.0 - 2.0**-25)
"""Scores are clipped to this range before their logit is taken: just beyond float32's extremes."""


def score_logits(scores: Any) -> np.ndarray:
    """Logits of fake probabilities (float32 sigmoid outputs), clipped to ``SCORE_RANGE`` first."""
    values = np.clip(np.asarray(scores, dtype=np.float64), *SCORE_RANGE)
    return np.log(values) - np.log1p(-values)


def calibrated_scores(scores: Any, temperature: float) -> np.ndarray:
    """``sigmoid(logit(scores) / temperature)``; scores unchanged (as float64) when the temperature is 1."""
    values = np.asarray(scores, dtype=np.float64)
    if temperature == 1.0:
        return values.copy()
    return expit(score_logits(values) / temperature)


def _float32_ceiling(value: float) -> float:
    """The smallest float32 value at or above ``value`` (every float32 score is decided as by ``value``)."""
    rounded = np.float32(value)
    if float(rounded) < value:
        rounded = np.nextafter(rounded, np.float32(np.inf))
    return float(rounded)


def calibrated_threshold(threshold: float, temperature: float) -> float:
    """``threshold`` re-expressed on the calibrated scale: same decisions for every float32 score.

    Exact while ``|logit|`` of the result is at most ``MAX_THRESHOLD_LOGIT`` (``fit_calibration``
    bounds the temperature so). A threshold outside (0, 1] calls every score fake (at most 0) or
    none (above 1) on both scales: it is kept.
    """
    if temperature == 1.0 or not 0.0 < threshold <= 1.0:
        return float(threshold)
    return float(calibrated_scores(_float32_ceiling(threshold), temperature))


def fit_temperature(
    labels: Any,
    logits: Any,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    platt_targets: bool = True,
) -> float:
    """The temperature ``T`` minimising the mean negative log-likelihood of ``sigmoid(logits / T)``.

    With ``platt_targets`` the likelihood is that of Platt's (1999) smoothed targets: a fake
    counts as fake with probability ``(n_fake + 1) / (n_fake + 2)``, a real one with ``1 / (n_real
    + 2)`` (scikit-learn's sigmoid calibration does the same). They say what a validation split of
    that size can support: with 50 fakes, no probability sharper than about 0.98 on its evidence.
    A split the detector separates perfectly then still has a finite best ``T`` instead of
    pushing every probability to 0 or 1; on thousands of images the targets are 0 and 1 to a
    thousandth and change nothing.

    Args:
        labels: 1 fake, 0 real.
        logits: the detector's logits of the same images (``score_logits`` of its probabilities).
        bounds: the range searched (bounded Brent on ``log T``).
        platt_targets: fit to Platt's smoothed targets (default) instead of the hard labels.

    Raises:
        ValueError: no images, one class only (the likelihood has no finite optimum), or
            non-finite logits.
    """
    labels, values = as_label_score_arrays(labels, logits)
    if np.unique(labels).size < 2:
        raise ValueError(
            f"temperature scaling needs real and fake validation images; got {labels.size} images "
            f"with labels {np.unique(labels).tolist()}"
        )
    if not np.isfinite(values).all():
        raise ValueError("temperature scaling needs finite logits (clip probabilities with score_logits)")
    low, high = bounds
    if not 0 < low < high:
        raise ValueError(f"temperature bounds must satisfy 0 < low < high; got {bounds}")
    fakes = int((labels == 1).sum())
    reals = labels.size - fakes
    if platt_targets:
        targets = np.where(labels == 1, (fakes + 1) / (fakes + 2), 1 / (reals + 2))
    else:
        targets = labels.astype(np.float64)

    def negative_log_likelihood(log_temperature: float) -> float:
        scaled = values / math.exp(log_temperature)
        return float(-np.mean(targets * log_expit(scaled) + (1 - targets) * log_expit(-scaled)))

    result = minimize_scalar(
        negative_log_likelihood,
        bounds=(math.log(low), math.log(high)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    if not result.success:
        raise ValueError(f"the temperature fit did not converge: {result.message}")
    return float(math.exp(result.x))


@dataclass(frozen=True)
class Calibration:
    """A detector's calibration: its temperature and its decision threshold on both scales.

    Attributes:
        method: ``temperature`` or ``none`` (``temperature`` 1).
        temperature: ``T``; served probabilities are ``sigmoid(logit / T)``.
        threshold: the decision threshold on the calibrated scale (the one served).
        uncalibrated_threshold: the threshold chosen on the validation split's raw probabilities.
    """

    method: str
    temperature: float
    threshold: float
    uncalibrated_threshold: float

    def scores(self, uncalibrated: Any) -> np.ndarray:
        """Calibrated probabilities of raw ones, checked to decide every image as before.

        Raises:
            ValueError: some image is decided differently (floating-point rounding at the
                threshold; not expected within ``MAX_THRESHOLD_LOGIT``).
        """
        values = np.asarray(uncalibrated, dtype=np.float64)
        calibrated = calibrated_scores(values, self.temperature)
        changed = int(
            np.count_nonzero((values >= self.uncalibrated_threshold) != (calibrated >= self.threshold))
        )
        if changed:
            raise ValueError(
                f"temperature {self.temperature:.6g} changes {changed} decisions at threshold "
                f"{self.uncalibrated_threshold!r} (re-expressed {self.threshold!r}); set "
                "evaluation.calibration: none to serve uncalibrated probabilities"
            )
        return calibrated

    def to_dict(self) -> dict[str, Any]:
        """Plain values (reports, ``metrics.json``)."""
        return {
            "method": self.method,
            "temperature": self.temperature,
            "threshold": self.threshold,
            "uncalibrated_threshold": self.uncalibrated_threshold,
        }


def fit_calibration(
    labels: Any, scores: Any, threshold: float, *, method: CalibrationMethod = "temperature"
) -> Calibration:
    """Fit ``method`` on validation ``labels`` and fake probabilities ``scores`` chosen at ``threshold``.

    Raises:
        ValueError: unknown method; validation data temperature scaling cannot use (see
            ``fit_temperature``).
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration {method!r}; valid: {', '.join(CALIBRATION_METHODS)}")
    if method == "none":
        return Calibration("none", 1.0, float(threshold), float(threshold))
    threshold_logit = abs(float(score_logits(_float32_ceiling(threshold))))
    low = max(TEMPERATURE_BOUNDS[0], threshold_logit / MAX_THRESHOLD_LOGIT)
    temperature = fit_temperature(labels, score_logits(scores), bounds=(low, TEMPERATURE_BOUNDS[1]))
    if math.isclose(temperature, low, rel_tol=1e-4):
        logger.warning(
            "temperature %.4g is at the low end of its range: this detector (nearly) separates the "
            "validation split, so its calibrated probabilities are as sharp as the range allows",
            temperature,
        )
    elif math.isclose(temperature, TEMPERATURE_BOUNDS[1], rel_tol=1e-4):
        logger.warning(
            "temperature %.4g is at the high end of its range: this detector's logits carry little "
            "information on the validation split, so its calibrated probabilities are all near 0.5",
            temperature,
        )
    calibration = Calibration(
        "temperature", temperature, calibrated_threshold(threshold, temperature), float(threshold)
    )
    calibration.scores(scores)  # the validation images keep their decisions
    return calibration


def reliability_bins(labels: Any, scores: Any, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Per equal-width bin of [0, 1]: ``low``, ``high``, ``images``, ``mean_probability``, ``fake_share``.

    The last bin includes 1. Empty bins have NaN means.
    """
    if bins < 1:
        raise ValueError(f"calibration bins must be at least 1; got {bins}")
    labels, values = as_label_score_arrays(labels, scores)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts, means = np.zeros(bins), np.full((2, bins), np.nan)
    if values.size:  # scipy cannot bin nothing
        counts = binned_statistic(values, values, statistic="count", bins=edges).statistic
        means = binned_statistic(
            values, [values, labels.astype(np.float64)], statistic="mean", bins=edges
        ).statistic
    return pd.DataFrame(
        {
            "low": edges[:-1],
            "high": edges[1:],
            "images": counts.astype(np.int64),
            "mean_probability": means[0],
            "fake_share": means[1],
        }
    )


def expected_calibration_error(labels: Any, scores: Any, bins: int = DEFAULT_BINS) -> float:
    """ECE of fake probabilities over ``bins`` equal-width bins (NaN without images)."""
    table = reliability_bins(labels, scores, bins)
    total = int(table["images"].sum())
    if total == 0:
        return math.nan
    filled = table[table["images"] > 0]
    gaps = (filled["fake_share"] - filled["mean_probability"]).abs()
    return float((filled["images"] / total * gaps).sum())


def calibration_table(
    labels: Any,
    uncalibrated: Any,
    calibrated: Any,
    sweep: Mapping[str, Mapping[str, float]] | None = None,
    *,
    bins: int = DEFAULT_BINS,
) -> pd.DataFrame:
    """ECE before and after calibration: the clean test split, then each perturbation of ``sweep``.

    ``sweep`` rows are read from a robustness sweep's ``ece_before`` / ``ece`` (``before`` falls back
    to ``ece`` for a sweep scored without a temperature).
    """
    rows = [
        {
            "scope": "clean",
            "ece_before": expected_calibration_error(labels, uncalibrated, bins),
            "ece_after": expected_calibration_error(labels, calibrated, bins),
        }
    ]
    for name, metrics in (sweep or {}).items():
        after = float(metrics.get("ece", math.nan))
        rows.append(
            {"scope": name, "ece_before": float(metrics.get("ece_before", after)), "ece_after": after}
        )
    return pd.DataFrame(rows)


def reliability_figure(
    curves: Mapping[str, tuple[Any, Any]], *, bins: int = DEFAULT_BINS, title: str = ""
) -> Figure:
    """Reliability diagram: per bin, the share of fake images against the mean fake probability.

    Args:
        curves: name (``before``, ``after``) → ``(labels, fake probabilities)``; each is drawn with
            its ECE in the legend, over the diagonal of perfect calibration, and its images per bin
            below.
        bins: equal-width bins of [0, 1].
        title: figure title.
    """
    figure = Figure(figsize=(6.0, 6.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    width = 1.0 / bins / max(len(curves), 1)
    for position, (name, (labels, scores)) in enumerate(curves.items()):
        table = reliability_bins(labels, scores, bins)
        ece = expected_calibration_error(labels, scores, bins)
        filled = table[table["images"] > 0]
        top.plot(
            filled["mean_probability"],
            filled["fake_share"],
            marker="o",
            label=f"{name} (ECE {ece:.3f}, {bins} equal-width bins)",
        )
        bottom.bar(table["low"] + (position + 0.5) * width, table["images"], width=width, label=name)
    top.set_xlim(0.0, 1.0)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("share of images that are fake")
    top.grid(alpha=0.3)
    top.legend(fontsize="small", loc="upper left")
    top.set_title(title)
    bottom.set_xlabel("fake probability (mean of the bin)")
    bottom.set_ylabel("images")
    bottom.grid(alpha=0.3)
    return figure


class TemperatureScaledDetector(nn.Module):
    """A detector whose logits are divided by ``temperature`` (``sigmoid`` of its output is calibrated).

    For code that takes a model and applies the sigmoid itself (the champion check, the region
    explainer), so that it sees the probabilities the serving model answers.
    """

    def __init__(self, detector: nn.Module, temperature: float) -> None:
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number; got {temperature!r}")
        self.detector = detector
        self.temperature = float(temperature)

    @property
    def backbone_name(self) -> Any:
        return getattr(self.detector, "backbone_name", None)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The detector's logits divided by the temperature."""
        return self.detector(images) / self.temperature
