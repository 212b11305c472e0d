"""Metrics against hand-computed values, thresholds, grouped metrics, prediction and plots."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from facetransfer.classes import MUT1NY_14, UNKNOWN_CLASS
from facetransfer.evaluation import (
    SegmentationConfusion,
    choose_threshold,
    confusion_matrix_figure,
    detection_confusion_matrix,
    detection_metrics,
    equal_error_rate,
    evaluate_segmenter,
    grouped_detection_metrics,
    predict_scores,
    robustness_figure,
    roc_curves_figure,
    save_figure,
    segmentation_examples,
    segmentation_overlay_figure,
)
from facetransfer.evaluation.plots import text_colour_on
from facetransfer.inputs.datasets import SegmentationDataset
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.models import build_detector, build_segmenter

#          tn  tn   fp   fn   tp   tp   tp   fp   (threshold 0.5, fake = 1 positive)
Y_TRUE = [0, 0, 0, 1, 1, 1, 1, 0]
SCORES = [0.1, 0.4, 0.6, 0.3, 0.7, 0.8, 0.5, 0.9]


def test_detection_metrics_match_hand_computed_confusion_matrix() -> None:
    metrics = detection_metrics(Y_TRUE, SCORES, threshold=0.5)
    tp, tn, fp, fn = 3, 2, 2, 1
    assert (metrics["tp"], metrics["tn"], metrics["fp"], metrics["fn"]) == (tp, tn, fp, fn)
    assert metrics["accuracy"] == pytest.approx((tp + tn) / 8)
    assert metrics["precision"] == pytest.approx(tp / (tp + fp))
    assert metrics["recall"] == pytest.approx(tp / (tp + fn))
    assert metrics["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # ROC-AUC by pair counting: fraction of (fake, real) pairs ranked correctly.
    fakes = [s for s, y in zip(SCORES, Y_TRUE, strict=True) if y]
    reals = [s for s, y in zip(SCORES, Y_TRUE, strict=True) if not y]
    pairs = sum(f > r for f in fakes for r in reals) / (len(fakes) * len(reals))
    assert metrics["roc_auc"] == pytest.approx(pairs)
    assert detection_confusion_matrix(metrics).tolist() == [[tn, fp], [fn, tp]]


def test_single_class_gives_nan_for_threshold_free_metrics() -> None:
    metrics = detection_metrics([1, 1, 1], [0.2, 0.7, 0.9], threshold=0.5)
    assert metrics["recall"] == pytest.approx(2 / 3) and metrics["precision"] == 1.0
    assert math.isnan(metrics["roc_auc"]) and math.isnan(metrics["eer"])
    assert math.isnan(detection_metrics([0, 0], [0.2, 0.7])["average_precision"])


def test_eer_and_threshold_on_a_known_distribution() -> None:
    # Real scores uniform on [0, 1], fake on [0.5, 1.5]: FPR = FNR = 0.25 at threshold 0.75.
    reals, fakes = np.linspace(0, 1, 2001), np.linspace(0.5, 1.5, 2001)
    labels = np.r_[np.zeros_like(reals), np.ones_like(fakes)]
    eer, threshold = equal_error_rate(labels, np.r_[reals, fakes])
    assert eer == pytest.approx(0.25, abs=1e-3)
    assert threshold == pytest.approx(0.75, abs=1e-3)
    assert choose_threshold(labels, np.r_[reals, fakes], rule="eer") == pytest.approx(threshold)


def test_max_f1_threshold_prefers_the_point_closest_to_one_half() -> None:
    # Perfect separation anywhere in (0.2, 0.8]: 0.5 itself is chosen.
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.5
    # Best F1 needs t in (0.2, 0.3]: the end nearest 0.5.
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.3)
    # Best F1 needs t in (0.7, 0.8]: just above 0.7.
    threshold = choose_threshold([0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9])
    assert 0.7 < threshold <= 0.7 + 1e-9
    assert detection_metrics([0, 0, 1, 1], [0.6, 0.7, 0.8, 0.9], threshold)["f1"] == 1.0
    assert choose_threshold(Y_TRUE, SCORES, rule="fixed", fixed=0.3) == 0.3
    with pytest.raises(ValueError, match="max_f1, eer, fixed"):
        choose_threshold(Y_TRUE, SCORES, rule="youden")


@pytest.mark.parametrize("seed", range(5))
def test_max_f1_threshold_reaches_the_best_f1_of_any_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    scores = rng.integers(0, 8, 60) / 7.0  # many tied scores
    best = max(detection_metrics(labels, scores, t)["f1"] for t in np.unique(scores))
    threshold = choose_threshold(labels, scores)
    assert detection_metrics(labels, scores, threshold)["f1"] == pytest.approx(best)
    with pytest.raises(ValueError, match="without fake"):
        choose_threshold(np.zeros(4), [0.1, 0.2, 0.3, 0.4])


def test_grouped_metrics_equal_per_group_computation() -> None:
    frame = pd.DataFrame(
        {
            "label": [*Y_TRUE, 1, 1],
            "score": [*SCORES, 0.95, 0.2],
            "generator": [None, None, None, "sg2", "sg2", "sd", "sd", None, "sg3", "sg3"],
        }
    )
    table = grouped_detection_metrics(frame, by="generator", threshold=0.5)
    assert table["generator"].tolist() == ["(none)", "sd", "sg2", "sg3", "overall"]
    for name, group in frame.groupby(frame["generator"].fillna("(none)")):
        expected = detection_metrics(group["label"], group["score"], 0.5)
        row = table.set_index("generator").loc[name]
        for key in ("accuracy", "precision", "recall", "f1", "tp", "fn"):
            assert row[key] == pytest.approx(expected[key])
        assert math.isnan(row["roc_auc"]) == math.isnan(expected["roc_auc"])
    overall = table.set_index("generator").loc["overall"]
    assert overall["n"] == 10 and overall["f1"] == pytest.approx(
        detection_metrics(frame.label, frame.score)["f1"]
    )


def test_segmentation_confusion_streams_and_ignores_unknown() -> None:
    target = np.array([[0, 0, 1, 1], [2, 2, UNKNOWN_CLASS, 1]])
    prediction = np.array([[0, 1, 1, 1], [2, 0, 3, 1]])
    whole = SegmentationConfusion(4)
    whole.update(torch.from_numpy(prediction), torch.from_numpy(target))
    streamed = SegmentationConfusion(4)
    streamed.update(prediction[:1], target[:1])
    streamed.update(prediction[1:], target[1:])
    assert np.array_equal(whole.matrix, streamed.matrix)
    assert whole.matrix.sum() == 7  # the unknown pixel is not counted
    assert whole.pixel_accuracy == pytest.approx(5 / 7)
    # IoU: class 0: 1 / (2 + 2 - 1); class 1: 3 / (3 + 4 - 3); class 2: 1 / (2 + 1 - 1); class 3 absent.
    iou = whole.iou()
    assert iou[:3] == pytest.approx([1 / 3, 3 / 4, 1 / 2]) and math.isnan(iou[3])
    assert whole.mean_iou == pytest.approx(np.mean([1 / 3, 3 / 4, 1 / 2]))


def test_predict_scores_are_probabilities_in_row_order(write_detection_data: Callable) -> None:
    frame = write_detection_data(5, size=32)
    torch.manual_seed(0)
    detector = build_detector("mobilenet_v3_large", "none").train()
    scores = predict_scores(
        detector,
        frame,
        preprocessing=Preprocessing.for_backbone("mobilenet_v3_large", 32),
        batch_size=2,
        device="cpu",
    )
    # The same numbers as the model's own forward pass on the prepared images, in row order.
    preprocessing = Preprocessing.for_backbone("mobilenet_v3_large", 32)
    inputs = torch.from_numpy(np.stack([preprocessing(path) for path in frame["path"]]))
    with torch.no_grad():
        expected = torch.sigmoid(detector.eval()(inputs)).numpy()
    detector.train()
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert scores.std() > 0  # different images, different scores
    reversed_scores = predict_scores(
        detector,
        frame.iloc[::-1],
        preprocessing=Preprocessing.for_backbone("mobilenet_v3_large", 32),
        batch_size=4,
        device="cpu",
    )
    assert np.allclose(reversed_scores[::-1], scores, atol=1e-6)
    assert detector.training  # the caller's mode is restored


def test_evaluate_segmenter_and_overlay_plot(write_segmentation_data: Callable, tmp_path: Path) -> None:
    frame = write_segmentation_data(3)
    torch.manual_seed(0)
    segmenter = build_segmenter("mobilenet_v3_large")
    result = evaluate_segmenter(segmenter, frame, scheme=MUT1NY_14, image_size=64, batch_size=2, device="cpu")
    assert result["n_images"] == 3
    # Pixel accuracy is the share of pixels whose argmax is the true class, over all test images.
    dataset = SegmentationDataset(
        frame,
        preprocessing=Preprocessing.for_backbone("mobilenet_v3_large", 64),
        scheme=MUT1NY_14,
        augment=False,
    )
    with torch.no_grad():
        pairs = [
            (segmenter.eval()(image[None]).argmax(1)[0], mask)
            for image, mask in map(dataset.__getitem__, range(3))
        ]
    correct = sum(int((predicted == mask).sum()) for predicted, mask in pairs)
    assert result["pixel_accuracy"] == pytest.approx(correct / (3 * 64 * 64))
    assert list(result["per_class_iou"]) == MUT1NY_14.names
    examples = segmentation_examples(segmenter, frame, scheme=MUT1NY_14, image_size=64, count=2, device="cpu")
    assert len(examples) == 2 and examples[0][0].shape == (64, 64, 3) and examples[0][2].shape == (64, 64)
    figure = segmentation_overlay_figure(examples, MUT1NY_14)
    assert len(figure.axes) == 6
    path = save_figure(figure, tmp_path / "plots" / "overlay.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_roc_and_confusion_figures(tmp_path: Path) -> None:
    figure = roc_curves_figure({"model a": (Y_TRUE, SCORES), "one class": ([1, 1], [0.2, 0.3])})
    assert isinstance(figure, Figure)
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert len(labels) == 1 and labels[0].startswith("model a (AUC")
    matrix = detection_confusion_matrix(detection_metrics(Y_TRUE, SCORES))
    assert save_figure(confusion_matrix_figure(matrix, title="test"), tmp_path / "cm.png").stat().st_size > 0
    with pytest.raises(ValueError, match="does not match"):
        confusion_matrix_figure(matrix, labels=("a", "b", "c"))


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ((0, 0, 0, 1), "white"),
        ((0.03, 0.19, 0.42, 1), "white"),
        ((1, 1, 1, 1), "black"),
        ((0.97, 0.98, 1, 1), "black"),
    ],
)
def test_cell_text_is_white_on_dark_and_black_on_light_colours(background: tuple, text: str) -> None:
    assert text_colour_on(background) == text


def test_confusion_matrix_counts_read_on_dark_and_light_cells() -> None:
    figure = confusion_matrix_figure(np.array([[95, 5], [40, 60]]))
    colours = {text.get_text().split("\n")[0]: text.get_color() for text in figure.axes[0].texts}
    # By the cell's luminance, not by "fraction > 0.5": black reads better on the mid blue of 60 %.
    assert colours == {"95": "white", "5": "black", "40": "black", "60": "black"}


def test_robustness_plot_names_its_axes_and_the_chance_line() -> None:
    curves = {"mobilenet-last": {"clean": 0.95, "jpeg": 0.9}, "champion v1": {"clean": 0.9, "blur": 0.6}}
    axes = robustness_figure(curves, metric="roc_auc", title="robust").axes[0]

    assert axes.get_ylabel() == "ROC-AUC (test split)"
    assert "perturbation" in axes.get_xlabel()
    handles, labels = axes.get_legend_handles_labels()
    assert labels == ["mobilenet-last", "champion v1", "chance (ROC-AUC 0.5)"]
    assert list(handles[-1].get_ydata()) == [0.5, 0.5]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["clean", "jpeg", "blur"]
    f1_axes = robustness_figure(curves, metric="f1").axes[0]  # no chance level drawn for F1
    assert f1_axes.get_ylabel() == "F1 (test split)" and "chance" not in str(
        f1_axes.get_legend_handles_labels()
    )
