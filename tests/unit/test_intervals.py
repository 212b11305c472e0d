"""Bootstrap intervals of the test metrics, the paired bootstrap, and how tables show them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from facetransfer.config import EvaluationSettings
from facetransfer.evaluation import detection_metrics, interval_markdown, metric_intervals, paired_bootstrap
from facetransfer.evaluation.intervals import INTERVAL_METRICS, resampled_metrics, stratified_bootstrap
from facetransfer.tracking.tables import table_2
from facetransfer.workflow.comparison import table_2_with_intervals
from facetransfer.workflow.detector import metrics_by_scope


def gaussian_scores(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reals ~ N(0, 1), fakes ~ N(1, 1): ROC-AUC Phi(1/sqrt 2), accuracy and recall at 0.5 Phi(0.5)."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(per_class), np.ones(per_class)].astype(int)
    return labels, rng.normal(labels.astype(float), 1.0)


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_metrics_equal_scikit_learn_on_the_unresampled_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    labels = rng.integers(0, 2, n) if seed else np.zeros(n, dtype=int)  # seed 0: one class only
    scores = np.round(rng.random(n), 1)  # many ties: ROC-AUC and AP must count them as sklearn does
    ours = resampled_metrics(labels, scores, 0.5)
    reference = detection_metrics(labels, scores, 0.5)
    for position, metric in enumerate(INTERVAL_METRICS):
        assert ours[position] == pytest.approx(reference[metric], nan_ok=True), metric


def test_perfectly_separable_scores_give_the_interval_one_to_one() -> None:
    labels = np.r_[np.zeros(30), np.ones(30)].astype(int)
    scores = np.r_[np.linspace(0.0, 0.4, 30), np.linspace(0.6, 1.0, 30)]
    intervals = metric_intervals(labels, scores, 0.5, n_resamples=500)
    for metric in INTERVAL_METRICS:
        assert intervals[f"{metric}_ci_low"] == 1.0 and intervals[f"{metric}_ci_high"] == 1.0, metric


def test_the_interval_contains_the_true_value_and_shrinks_with_n() -> None:
    truth = {"roc_auc": norm.cdf(1 / math.sqrt(2)), "accuracy": norm.cdf(0.5), "recall": norm.cdf(0.5)}
    widths = {}
    for per_class in (60, 960):
        labels, scores = gaussian_scores(per_class, seed=3)
        intervals = metric_intervals(labels, scores, 0.5, n_resamples=1000, seed=0)
        for metric, value in truth.items():
            low, high = intervals[f"{metric}_ci_low"], intervals[f"{metric}_ci_high"]
            assert low < value < high, (per_class, metric, low, high, value)
            widths[per_class, metric] = high - low
    for metric in truth:  # 16 times the images: about a quarter of the width
        assert widths[960, metric] < widths[60, metric] / 2.5, metric


def test_intervals_are_seeded() -> None:
    labels, scores = gaussian_scores(40, seed=1)
    first = metric_intervals(labels, scores, 0.5, n_resamples=300, seed=7)
    assert first == metric_intervals(labels, scores, 0.5, n_resamples=300, seed=7)
    assert first != metric_intervals(labels, scores, 0.5, n_resamples=300, seed=8)


def test_stratification_keeps_both_classes_at_their_size_in_every_resample() -> None:
    labels = np.r_[np.zeros(3), np.ones(40)].astype(int)  # 3 reals: unstratified, ~1 resample in 20 has none
    seen: list[np.ndarray] = []

    def record(indices: np.ndarray) -> np.ndarray:
        seen.append(indices)
        return labels[indices].mean(axis=-1)

    result = stratified_bootstrap(labels, record, n_resamples=2000, confidence_level=0.95, seed=0)
    resamples = np.concatenate(seen)
    assert resamples.shape == (2000, 43)
    assert ((labels[resamples] == 0).sum(axis=-1) == 3).all()
    assert ((labels[resamples] == 1).sum(axis=-1) == 40).all()
    assert len({tuple(row) for row in resamples}) > 1000, "the images are resampled, not kept"
    assert np.ptp(result.bootstrap_distribution) == 0  # the class shares never move


def test_a_class_with_a_single_image_gets_no_interval() -> None:
    intervals = metric_intervals([0, 1, 1, 1], [0.1, 0.8, 0.9, 0.7], 0.5, n_resamples=100)
    assert all(math.isnan(value) for value in intervals.values())


def test_one_class_groups_get_intervals_only_where_the_metric_is_defined() -> None:
    intervals = metric_intervals([0] * 10, np.linspace(0, 0.9, 10), 0.5, n_resamples=200)
    assert intervals["accuracy_ci_low"] < 0.5 < intervals["accuracy_ci_high"]
    assert math.isnan(intervals["roc_auc_ci_low"]) and math.isnan(intervals["average_precision_ci_high"])


def test_paired_bootstrap_finds_a_clearly_better_challenger_and_not_an_equal_one() -> None:
    labels, champion = gaussian_scores(100, seed=2)
    better = np.where(labels == 1, 2.0, -1.0) + 0.1 * champion  # separates the classes perfectly
    gain = paired_bootstrap(
        labels, better, champion, metric="f1", challenger_threshold=0.5, champion_threshold=0.5
    )
    assert gain.difference > 0.2 and gain.ci_low > 0 and gain.p_value < 0.01
    assert gain.confidence_level == 0.90 and gain.n_images == 200
    same = paired_bootstrap(
        labels, champion, champion, metric="f1", challenger_threshold=0.5, champion_threshold=0.5
    )
    assert same.difference == 0 and same.ci_low == same.ci_high == 0 and same.p_value == 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap(
            labels, better, champion, metric="eer", challenger_threshold=0.5, champion_threshold=0.5
        )


def scored_test_split() -> pd.DataFrame:
    """30 reals from two sources, 30 fakes of generator ``big`` and 5 of generator ``small``."""
    rng = np.random.default_rng(0)
    rows = [("ffhq" if i % 2 else "celebahq", None, 0, rng.uniform(0.0, 0.6)) for i in range(30)]
    rows += [("big", "big", 1, rng.uniform(0.3, 1.0)) for _ in range(30)]
    rows += [("small", "small", 1, rng.uniform(0.3, 1.0)) for _ in range(5)]
    frame = pd.DataFrame(rows, columns=["source", "generator", "label", "score"])
    return frame.assign(path=[f"img{i}.png" for i in range(len(frame))])


def test_every_scope_gets_intervals_and_small_generators_are_marked() -> None:
    settings = EvaluationSettings(bootstrap_resamples=200, min_images_for_ci=20)
    metrics = metrics_by_scope(scored_test_split(), 0.5, intervals=settings)
    scopes = [metrics["overall"], *metrics["per_generator"].values(), *metrics["per_source"].values()]
    for scope in scopes:
        assert scope["accuracy_ci_low"] <= scope["accuracy"] <= scope["accuracy_ci_high"]
    assert metrics["per_generator"]["small"]["few_images"]  # 5 fakes, even with 30 reals alongside
    assert not metrics["per_generator"]["big"]["few_images"]
    assert metrics["per_source"]["small"]["few_images"] and not metrics["overall"]["few_images"]
    frame = pd.DataFrame([{"generator": g, **m} for g, m in metrics["per_generator"].items()])
    markdown = interval_markdown(frame, label_column="generator", min_images=20)
    assert "| small*" in markdown and "| big " in markdown
    assert "\\* n < 20: fewer than 20 test images" in markdown
    without = metrics_by_scope(scored_test_split(), 0.5)
    assert "f1_ci_low" not in without["overall"] and "few_images" not in without["overall"]


def test_table_2_keeps_numbers_in_the_csv_and_shows_brackets_in_markdown() -> None:
    overall = {"accuracy": 0.95, "precision": 0.96, "recall": 0.95, "f1": 0.955, "roc_auc": 0.99}
    overall |= {"f1_ci_low": 0.912, "f1_ci_high": 0.987}  # the other metrics: no interval logged
    reports = [{"backbone": "mobilenet_v3_large", "variant": "all", "test": {"overall": overall}}]
    table = table_2_with_intervals(table_2(reports), reports)
    columns = list(table.columns)
    assert columns[columns.index("F1") :][:3] == ["F1", "F1_ci_low", "F1_ci_high"]
    assert table.loc[0, "F1_ci_low"] == 0.912 and math.isnan(table.loc[0, "Accuracy_ci_low"])
    cells = [cell.strip() for cell in interval_markdown(table).splitlines()[2].strip("|").split("|")]
    assert cells[:2] == ["MobileNetV3 Large", "All"]
    assert "0.955 [0.91, 0.99]" in cells and cells[2].startswith("0.950")  # accuracy: no interval
