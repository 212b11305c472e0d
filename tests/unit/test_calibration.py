"""Temperature scaling, expected calibration error and the calibrated evaluation of a detector."""

from __future__ import annotations

import logging
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit
from torch import nn

from facetransfer.config import EvaluationSettings
from facetransfer.evaluation import (
    TemperatureScaledDetector,
    calibrated_scores,
    calibrated_threshold,
    calibration_table,
    choose_threshold,
    detection_metrics,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    predict_scores,
    reliability_bins,
    reliability_figure,
    robustness,
    score_logits,
)
from facetransfer.evaluation.calibration import MAX_THRESHOLD_LOGIT, TEMPERATURE_BOUNDS
from facetransfer.inputs.preprocessing import Preprocessing

THRESHOLD_FREE = {"threshold", "eer_threshold"}
"""The only ``detection_metrics`` keys a monotone map of the scores may change (they are scores)."""


def miscalibrated(scale: float, size: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn with probability ``sigmoid(z)``, scores ``sigmoid(scale * z)`` as float32 values."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size)
    labels = (rng.random(size) < expit(z)).astype(np.int64)
    scores = expit(scale * z).astype(np.float32).astype(np.float64)  # what predict_scores returns
    return labels, scores


@pytest.mark.parametrize("scale", [3.0, 0.5])
def test_temperature_scaling_recovers_the_temperature_and_lowers_ece(scale: float) -> None:
    val_labels, val_scores = miscalibrated(scale, seed=0)
    test_labels, test_scores = miscalibrated(scale, seed=1)
    temperature = fit_temperature(val_labels, score_logits(val_scores))
    assert temperature == pytest.approx(scale, rel=0.10)
    before = expected_calibration_error(test_labels, test_scores)
    after = expected_calibration_error(test_labels, calibrated_scores(test_scores, temperature))
    assert before > 0.05 and after < 0.02 and after < before / 3


def test_the_re_expressed_threshold_keeps_every_decision() -> None:
    rng = np.random.default_rng(3)
    # float32 scores, as inference produces them, with the extremes (0, 1, float32's last values).
    scores = np.concatenate(
        [
            expit(rng.normal(0.0, 6.0, 5000)).astype(np.float32),
            np.float32([0.0, 1.0, 1e-30, np.nextafter(np.float32(1), np.float32(0)), 0.5]),
        ]
    ).astype(np.float64)
    labels = (rng.random(scores.size) < scores).astype(np.int64)
    max_f1 = choose_threshold(labels, scores, rule="max_f1")
    # Thresholds one float64 step above a score are what max_f1 picks when its optimum lies above 0.5.
    thresholds = [max_f1, 0.5, 0.03, 0.97, *np.nextafter(scores[:50], 2.0)]
    checked = 0
    for temperature in (0.2, 0.5, 1.0, 1.7, 3.0, 10.0):
        calibrated = calibrated_scores(scores, temperature)
        assert np.all(np.diff(calibrated[np.argsort(scores)]) >= 0), "the map is monotone"
        for threshold in thresholds:
            served = calibrated_threshold(threshold, temperature)
            if abs(score_logits(served)) > MAX_THRESHOLD_LOGIT:
                continue  # fit_calibration's lower bound on T keeps thresholds out of here
            assert np.array_equal(scores >= threshold, calibrated >= served), (temperature, threshold)
            checked += 1
    assert checked > 250


def test_detection_metrics_do_not_move_but_ece_does() -> None:
    val_labels, val_scores = miscalibrated(3.0, size=2000, seed=4)
    test_labels, test_scores = miscalibrated(3.0, size=2000, seed=5)
    threshold = choose_threshold(val_labels, val_scores, rule="max_f1")
    calibration = fit_calibration(val_labels, val_scores, threshold)
    assert calibration.temperature == pytest.approx(3.0, rel=0.15)
    assert calibration.threshold == calibrated_threshold(threshold, calibration.temperature)
    calibrated = calibration.scores(test_scores)
    before = detection_metrics(test_labels, test_scores, threshold)
    after = detection_metrics(test_labels, calibrated, calibration.threshold)
    assert {k: v for k, v in after.items() if k not in THRESHOLD_FREE} == {
        k: v for k, v in before.items() if k not in THRESHOLD_FREE
    }
    assert expected_calibration_error(test_labels, calibrated) < expected_calibration_error(
        test_labels, test_scores
    )


def test_no_calibration_is_the_identity() -> None:
    labels, scores = miscalibrated(3.0, size=500)
    calibration = fit_calibration(labels, scores, 0.6, method="none")
    assert (calibration.temperature, calibration.threshold) == (1.0, 0.6)
    assert np.array_equal(calibration.scores(scores), scores)
    with pytest.raises(ValueError, match="unknown calibration 'platt'"):
        fit_calibration(labels, scores, 0.6, method="platt")  # type: ignore[arg-type]


def test_a_separated_validation_split_gets_probabilities_its_size_supports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 20 + 20 images the detector separates perfectly: under the hard labels the likelihood keeps
    # rising as T falls (every probability pushed to 0 or 1, at the bound); Platt's targets, 21/22
    # for a fake and 1/22 for a real, give a finite T whose probabilities stop near them.
    labels = np.array([0] * 20 + [1] * 20)
    scores = np.r_[np.linspace(0.05, 0.3, 20), np.linspace(0.9, 0.99, 20)].astype(np.float32).astype(float)
    low = TEMPERATURE_BOUNDS[0]
    assert fit_temperature(labels, score_logits(scores), platt_targets=False) == pytest.approx(low, rel=1e-3)
    threshold = choose_threshold(labels, scores, rule="max_f1")
    with caplog.at_level(logging.WARNING):
        calibration = fit_calibration(labels, scores, threshold)
    assert "end of its range" not in caplog.text
    assert calibration.temperature > 2 * low
    served = calibration.scores(scores)
    assert 0.9 < served[labels == 1].mean() < 0.99 and 0.01 < served[labels == 0].mean() < 0.2
    assert abs(score_logits(calibration.threshold)) <= MAX_THRESHOLD_LOGIT + 1e-6
    assert np.array_equal(served >= calibration.threshold, scores >= threshold)


def test_temperature_scaling_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="needs real and fake validation images"):
        fit_temperature([1, 1, 1], [0.5, 1.0, 2.0])


def test_ece_on_known_cases_with_equal_width_bins() -> None:
    # Every image says 0.8 and half are fake: one bin, gap 0.3.
    assert expected_calibration_error([0, 1] * 50, [0.8] * 100) == pytest.approx(0.3)
    # 0.25 with one fake in four, 0.75 with three in four: calibrated.
    labels = [1, 0, 0, 0, 1, 1, 1, 0]
    assert expected_calibration_error(labels, [0.25] * 4 + [0.75] * 4, bins=10) == pytest.approx(0.0)
    # Two bins of 15: 0.1 (share 0) weighs 1/4, 1.0 (share 1, in the last bin) 3/4.
    assert expected_calibration_error([0, 1, 1, 1], [0.1, 1.0, 1.0, 1.0]) == pytest.approx(0.025)
    table = reliability_bins([0, 1, 1, 1], [0.1, 1.0, 1.0, 1.0], bins=15)
    assert len(table) == 15 and table["images"].sum() == 4 and table["images"].iloc[-1] == 3
    assert table["mean_probability"].isna().sum() == 13
    assert math.isnan(expected_calibration_error([], []))


def test_the_reliability_diagram_draws_the_diagonal_and_both_curves() -> None:
    labels, scores = miscalibrated(3.0, size=1000)
    figure = reliability_figure(
        {"before": (labels, scores), "after": (labels, calibrated_scores(scores, 3.0))}, bins=10
    )
    top, bottom = figure.axes
    legend = [text.get_text() for text in top.get_legend().get_texts()]
    assert legend[0] == "perfect calibration" and legend[1].startswith("before (ECE ")
    assert legend[2].startswith("after (ECE ") and "10 equal-width bins" in legend[2]
    diagonal = top.lines[0]
    assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    assert len(bottom.patches) == 20  # images per bin, before and after


def test_the_temperature_scaled_detector_divides_the_logits() -> None:
    detector = nn.Linear(3, 1)
    wrapped = TemperatureScaledDetector(detector, 2.5)
    inputs = torch.randn(4, 3)
    assert torch.allclose(wrapped(inputs), detector(inputs) / 2.5)
    with pytest.raises(ValueError, match="positive number"):
        TemperatureScaledDetector(detector, 0.0)


def test_the_robustness_sweep_reports_ece_before_and_after(monkeypatch: pytest.MonkeyPatch) -> None:
    labels, scores = miscalibrated(3.0, size=400)
    frame = pd.DataFrame({"path": [f"{i}.png" for i in range(labels.size)], "label": labels})
    monkeypatch.setattr("facetransfer.evaluation.prediction.predict_scores", lambda *a, **k: scores)
    threshold = 0.7
    served = calibrated_threshold(threshold, 3.0)
    sweep = robustness.robustness_sweep(
        None, frame, preprocessing=None, threshold=served, perturbations=["jpeg_q75"], temperature=3.0
    )
    metrics = sweep["jpeg_q75"]
    assert metrics["f1"] == detection_metrics(labels, scores, threshold)["f1"]
    assert metrics["ece_before"] == pytest.approx(expected_calibration_error(labels, scores))
    assert metrics["ece"] < metrics["ece_before"]
    plain = robustness.robustness_sweep(
        None, frame, preprocessing=None, threshold=0.5, perturbations=["blur_1"]
    )
    assert "ece_before" not in plain["blur_1"] and plain["blur_1"]["ece"] == metrics["ece_before"]
    table = calibration_table(labels, scores, calibrated_scores(scores, 3.0), sweep)
    assert table["scope"].tolist() == ["clean", "jpeg_q75"]
    assert table.loc[1, "ece_after"] == metrics["ece"]


def test_calibration_settings_default_to_temperature_scaling_with_15_bins() -> None:
    settings = EvaluationSettings()
    assert (settings.calibration, settings.calibration_bins) == ("temperature", 15)
    with pytest.raises(ValueError, match="calibration"):
        EvaluationSettings(calibration="platt")


class BrightnessDetector(nn.Module):
    """Logit = a steep function of the mean pixel: bright images (the fixture's fakes) score high."""

    backbone_name = "mobilenet_v3_large"

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(6.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.scale * images.mean(dim=(1, 2, 3))


def test_evaluation_serves_calibrated_scores_with_unchanged_decisions(
    write_detection_data, mlflow_client
) -> None:
    frame = write_detection_data(48)
    frame["split"] = ["val"] * 24 + ["test"] * 24
    frame["source"] = "stripes"
    flipped = [1, 2, 7, 24, 27]  # label noise: the bright-vs-dark detector is now overconfident
    frame.loc[flipped, "label"] = 1 - frame.loc[flipped, "label"]
    frame["generator"] = np.where(frame["label"] == 1, "stripes", None)
    preprocessing = Preprocessing.for_backbone("mobilenet_v3_large", 64)
    model = BrightnessDetector()
    with mlflow.start_run() as run:
        pass
    report = {
        "run_id": run.info.run_id,
        "backbone": "mobilenet_v3_large",
        "variant": "none",
        "image_size": 64,
        "preprocessing": preprocessing.to_dict(),
    }
    from facetransfer.workflow.detector import evaluate_and_log_detector

    settings = EvaluationSettings(batch_size=16, robustness=["jpeg_q75"], bootstrap_resamples=0)
    evaluated = evaluate_and_log_detector(model, frame, report, settings=settings)

    raw = {
        split: predict_scores(model, frame[frame["split"] == split], preprocessing=preprocessing)
        for split in ("val", "test")
    }
    labels = {split: frame.loc[frame["split"] == split, "label"] for split in ("val", "test")}
    raw_threshold = choose_threshold(labels["val"], raw["val"], rule="max_f1")
    calibration = evaluated["calibration"]
    assert calibration["temperature"] > 1.0, "the label noise makes the detector overconfident"
    assert calibration["uncalibrated_threshold"] == raw_threshold
    assert evaluated["threshold"] == calibrated_threshold(raw_threshold, calibration["temperature"])
    uncalibrated = detection_metrics(labels["test"], raw["test"], raw_threshold)
    served = evaluated["test"]["overall"]
    assert {k: served[k] for k in uncalibrated if k not in THRESHOLD_FREE} == {
        k: v for k, v in uncalibrated.items() if k not in THRESHOLD_FREE
    }
    assert np.allclose(
        evaluated["test_scores"]["score"], calibrated_scores(raw["test"], calibration["temperature"])
    )
    assert calibration["test_ece_before"] == pytest.approx(
        expected_calibration_error(labels["test"], raw["test"])
    )

    logged = mlflow_client.get_run(run.info.run_id).data
    assert logged.metrics["test_ece_before"] == pytest.approx(calibration["test_ece_before"])
    assert logged.metrics["test_ece_after"] == pytest.approx(calibration["test_ece_after"])
    assert logged.metrics["calibration_temperature"] == pytest.approx(calibration["temperature"])
    assert {"robust/jpeg_q75/ece", "robust/jpeg_q75/ece_before"} <= set(logged.metrics)
    files = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "plots")}
    files |= {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "tables")}
    assert {"plots/reliability.png", "tables/calibration.csv", "tables/calibration.md"} <= files


def test_a_detector_at_chance_stops_at_the_upper_bound(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 400)
    scores = expit(rng.normal(0.0, 3.0, 400)).astype(np.float32).astype(float)  # unrelated to labels
    with caplog.at_level(logging.WARNING):
        calibration = fit_calibration(labels, scores, 0.5)
    assert calibration.temperature == pytest.approx(20.0, rel=1e-3)
    assert "at the high end of its range" in caplog.text
