"""Robustness sweep: how a detector holds up when images are re-compressed, rescaled or blurred.

Images found in the wild have passed through platforms that re-encode and resize them. Each
perturbation here is applied to the decoded full-resolution image, before the model's own
preprocessing, as a platform would apply it to the file; the detector then scores the test split
again. Perturbations are deterministic albumentations transforms (``p=1``, fixed parameters):

=================== ================================================================
``jpeg_q95/75/50``  JPEG re-compression at quality 95, 75, 50
``downscale_0.5``   downscale to half the size (area) and back up (bilinear)
``downscale_0.25``  downscale to a quarter and back up
``blur_1``, ``blur_2`` Gaussian blur, sigma 1 and 2 pixels
``social_media``    downscale to half the size (kept small), then JPEG quality 75
=================== ================================================================

Metrics per perturbation: ROC-AUC, average precision and F1 at the model's own threshold (chosen
on the clean validation split, as in service), and the expected calibration error of the served
(calibrated) fake probabilities, ``ece`` (with a temperature given, also ``ece_before``, of the
raw ones): a temperature fitted on clean validation images says little about perturbed ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: N812 (conventional alias)
import cv2
import numpy as np
import pandas as pd

from facetransfer.evaluation.calibration import DEFAULT_BINS, calibrated_scores, expected_calibration_error
from facetransfer.evaluation.detection_metrics import detection_metrics

ROBUSTNESS_METRICS = ("roc_auc", "average_precision", "f1")
CALIBRATION_METRICS = ("ece", "ece_before")
"""Calibration metrics of a sweep (``ece_before`` only when a temperature was given)."""


def _downscale_and_back(scale: float) -> A.BasicTransform:
    return A.Downscale(
        scale_range=(scale, scale),
        interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
        p=1.0,
    )


def _jpeg(quality: int) -> A.BasicTransform:
    return A.ImageCompression(compression_type="jpeg", quality_range=(quality, quality), p=1.0)


def _blur(sigma: float) -> A.BasicTransform:
    return A.GaussianBlur(blur_limit=0, sigma_limit=(sigma, sigma), p=1.0)


_FACTORIES: dict[str, Callable[[], list[A.BasicTransform]]] = {
    "jpeg_q95": lambda: [_jpeg(95)],
    "jpeg_q75": lambda: [_jpeg(75)],
    "jpeg_q50": lambda: [_jpeg(50)],
    "downscale_0.5": lambda: [_downscale_and_back(0.5)],
    "downscale_0.25": lambda: [_downscale_and_back(0.25)],
    "blur_1": lambda: [_blur(1.0)],
    "blur_2": lambda: [_blur(2.0)],
    "social_media": lambda: [
        A.RandomScale(scale_limit=(-0.5, -0.5), interpolation=cv2.INTER_AREA, p=1.0),
        _jpeg(75),
    ],
}
PERTURBATIONS: tuple[str, ...] = tuple(_FACTORIES)
"""Names of the perturbations of the sweep, in reporting order."""


def perturbation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The perturbation ``name`` as a function of a uint8 RGB image.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown perturbation {name!r}; valid: {', '.join(PERTURBATIONS)}")
    pipeline = A.Compose(_FACTORIES[name]())
    pipeline.set_random_seed(0)

    def apply(image: np.ndarray) -> np.ndarray:
        return np.asarray(pipeline(image=image)["image"])

    return apply


def validate_perturbations(names: Sequence[str]) -> list[str]:
    """Check a configured list of perturbation names (unknown or repeated names are errors)."""
    unknown = [name for name in names if name not in _FACTORIES]
    if unknown:
        raise ValueError(f"unknown perturbation(s) {unknown}; valid: {', '.join(PERTURBATIONS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"perturbations listed twice: {list(names)}")
    return list(names)


def sweep_metrics(labels: Any, scores: Any, threshold: float) -> dict[str, float]:
    """ROC-AUC, average precision and F1 (at ``threshold``) of one perturbation's scores."""
    metrics = detection_metrics(labels, scores, threshold)
    return {name: float(metrics[name]) for name in ROBUSTNESS_METRICS}


def mean_roc_auc(sweep: Mapping[str, Mapping[str, float]]) -> float:
    """Mean ROC-AUC over the perturbations of a sweep (NaN for an empty sweep)."""
    values = [float(m["roc_auc"]) for m in sweep.values() if math.isfinite(float(m.get("roc_auc", math.nan)))]
    return float(np.mean(values)) if values else math.nan


def robustness_sweep(
    model: Any,
    frame: pd.DataFrame,
    *,
    preprocessing: Any,
    threshold: float,
    perturbations: Sequence[str] = PERTURBATIONS,
    batch_size: int = 64,
    device: str = "auto",
    temperature: float = 1.0,
    calibration_bins: int = DEFAULT_BINS,
) -> dict[str, dict[str, float]]:
    """Score ``frame`` (rows with ``path`` and ``label``) once per perturbation.

    Args:
        model: a detector.
        frame: the test rows.
        preprocessing: the model's ``Preprocessing``.
        threshold: the model's decision threshold (for F1), on the scale of the served (with
            ``temperature``: calibrated) probabilities.
        perturbations: names from ``PERTURBATIONS``.
        batch_size: images per forward pass.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        temperature: the model's temperature (``facetransfer.evaluation.calibration``).
        calibration_bins: equal-width bins of the expected calibration error.

    Returns:
        ``{perturbation: {"roc_auc", "average_precision", "f1", "ece"}}``, plus ``ece_before``
        (the raw probabilities' ECE) when ``temperature`` is not 1.
    """
    from facetransfer.evaluation.prediction import predict_scores

    sweep: dict[str, dict[str, float]] = {}
    for name in validate_perturbations(perturbations):
        uncalibrated = predict_scores(
            model,
            frame,
            preprocessing=preprocessing,
            batch_size=batch_size,
            device=device,
            perturbation=perturbation(name),
        )
        scores = calibrated_scores(uncalibrated, temperature)
        sweep[name] = sweep_metrics(frame["label"], scores, threshold)
        sweep[name]["ece"] = expected_calibration_error(frame["label"], scores, calibration_bins)
        if temperature != 1.0:
            sweep[name]["ece_before"] = expected_calibration_error(
                frame["label"], uncalibrated, calibration_bins
            )
    return sweep
