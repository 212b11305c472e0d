"""Cross-generator evaluation: how detectors trained on some generators score the test images of others.

Input: one long table of test scores (``CROSS_GENERATOR_KEYS`` name the detector, ``path``,
``label``, ``generator`` and ``score`` the image), where every detector scored the same test
split. A *cell* is one detector on one test generator: that generator's test images together
with every real test image (as ``facetransfer.workflow.detector.generator_subsets``), so ROC-AUC
and AP are defined. A cell is *unseen* when the detector's training data held no image of that
generator.

Intervals: per test generator, one ``stratified_bootstrap`` (real and fake images resampled apart)
scores every detector on the same resamples, so a difference between two detectors on that
generator is paired. The generators' resamples are drawn independently (seed + generator's
position), although their real images are the same ones; a mean over cells is the mean of the
cells' resampled values, resample by resample, and its interval the percentiles of that mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from facetransfer.evaluation.intervals import (
    INTERVAL_METRICS,
    interval_keys,
    resampled_metrics,
    stratified_bootstrap,
)
from facetransfer.evaluation.plots import METRIC_LABELS, annotate_cells

CROSS_GENERATOR_KEYS = ("backbone", "variant", "setting", "held_generator")
"""Columns naming a detector: backbone, variant, fold setting and the generator the fold is about."""
MATRIX_METRICS = ("roc_auc", "average_precision")
"""The threshold-free metrics of the matrix (no decision threshold is chosen per fold)."""

DetectorKey = tuple[str, ...]


@dataclass
class CrossGeneratorCells:
    """Every cell's metrics, and the bootstrap values behind their intervals.

    Attributes:
        table: one row per detector and test generator: ``CROSS_GENERATOR_KEYS``,
            ``test_generator``, ``unseen``, ``real_images``, ``fake_images`` and, for each of
            ``MATRIX_METRICS``, the value and its ``_ci_low`` / ``_ci_high``.
        resampled: ``(detector key, test generator, metric)`` -> the metric on each bootstrap
            resample (empty without resamples).
        confidence_level: level of every interval.
    """

    table: pd.DataFrame
    resampled: dict[tuple[DetectorKey, str, str], np.ndarray] = field(default_factory=dict)
    confidence_level: float = 0.95

    def mean(self, cells: pd.DataFrame, metric: str) -> tuple[float, float, float]:
        """Mean of ``metric`` over ``cells`` (rows of ``table``) with its bootstrap interval."""
        return self.mean_difference(cells, None, metric)

    def mean_difference(
        self, cells: pd.DataFrame, baseline: pd.DataFrame | None, metric: str
    ) -> tuple[float, float, float]:
        """Mean over cell pairs of ``cells[metric] - baseline[metric]`` (row by row), with its interval.

        ``baseline`` ``None``: the mean of ``cells`` alone. Rows of the two frames pair up in
        order (same test generator, so the difference is paired on each resample).

        Returns:
            ``(mean, ci_low, ci_high)``; NaN bounds without resamples, all NaN without cells.
        """
        if cells.empty:
            return math.nan, math.nan, math.nan
        values = cells[metric].to_numpy(dtype=float)
        draws = [self._draws(cell, metric) for cell in cells.to_dict("records")]
        if baseline is not None:
            values = values - baseline[metric].to_numpy(dtype=float)
            baseline_draws = [self._draws(cell, metric) for cell in baseline.to_dict("records")]
            draws = [
                None if mine is None or theirs is None else mine - theirs
                for mine, theirs in zip(draws, baseline_draws, strict=True)
            ]
        mean = float(np.mean(values))
        present = [draw for draw in draws if draw is not None]
        if len(present) < len(draws):
            return mean, math.nan, math.nan
        averaged = np.mean(np.stack(present), axis=0)
        tail = (1 - self.confidence_level) / 2
        low, high = np.nanquantile(averaged, [tail, 1 - tail])
        return mean, float(low), float(high)

    def _draws(self, cell: Mapping[str, object], metric: str) -> np.ndarray | None:
        key = tuple(str(cell[column]) for column in CROSS_GENERATOR_KEYS)
        return self.resampled.get((key, str(cell["test_generator"]), metric))


def cross_generator_cells(
    scores: pd.DataFrame,
    trained_generators: Mapping[DetectorKey, Iterable[str]],
    *,
    n_resamples: int,
    confidence_level: float,
    seed: int,
) -> CrossGeneratorCells:
    """ROC-AUC and AP of every detector on every test generator, with bootstrap intervals.

    Args:
        scores: test scores of every detector (``CROSS_GENERATOR_KEYS``, ``path``, ``label``,
            ``generator``, ``score``); all detectors must have scored the same images.
        trained_generators: detector key -> the generators its training split held.
        n_resamples: bootstrap resamples per test generator (0: no intervals).
        confidence_level: level of the percentile intervals.
        seed: seed of the first test generator's resampling (the next ones add their position).

    Raises:
        ValueError: detectors scored different images, or the test split has no real image.
    """
    real = scores[scores["label"] == 0]
    if real.empty:
        raise ValueError("the test split has no real image: no cross-generator metric is defined")
    generators = sorted(scores.loc[scores["label"] == 1, "generator"].dropna().astype(str).unique())
    rows, resampled = [], {}
    for position, generator in enumerate(generators):
        subset = pd.concat([real, scores[(scores["label"] == 1) & (scores["generator"] == generator)]])
        wide = subset.pivot(index=["path", "label"], columns=list(CROSS_GENERATOR_KEYS), values="score")
        if wide.isna().to_numpy().any():
            raise ValueError(
                f"the detectors scored different test images of {generator!r} and the real sources"
            )
        labels = wide.index.get_level_values("label").to_numpy(dtype=np.int64)
        detector_scores = wide.to_numpy(dtype=np.float64).T  # (detectors, images)
        observed = _cell_metrics(labels, detector_scores)
        bounds, draws = _cell_intervals(
            labels, detector_scores, n_resamples, confidence_level, seed + position
        )
        for column, key in enumerate(wide.columns):
            key = tuple(str(part) for part in key)
            row = dict(zip(CROSS_GENERATOR_KEYS, key, strict=True))
            row |= {
                "test_generator": generator,
                "unseen": generator not in set(trained_generators[key]),
                "real_images": int((labels == 0).sum()),
                "fake_images": int((labels == 1).sum()),
            }
            for index, metric in enumerate(MATRIX_METRICS):
                row[metric] = float(observed[index, column])
                low_key, high_key = interval_keys(metric)
                row[low_key], row[high_key] = (float(bound) for bound in bounds[index, column])
                if draws is not None:
                    resampled[(key, generator, metric)] = draws[index, column]
            rows.append(row)
    return CrossGeneratorCells(pd.DataFrame(rows), resampled, confidence_level)


def _cell_metrics(labels: np.ndarray, detector_scores: np.ndarray) -> np.ndarray:
    """``(len(MATRIX_METRICS), detectors, ...)`` from ``resampled_metrics`` (threshold-free rows only)."""
    positions = [INTERVAL_METRICS.index(metric) for metric in MATRIX_METRICS]
    broadcast = np.broadcast_to(labels, detector_scores.shape)
    return resampled_metrics(broadcast, detector_scores, 0.5)[positions]


def _cell_intervals(
    labels: np.ndarray, detector_scores: np.ndarray, n_resamples: int, confidence_level: float, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Percentile bounds ``(metrics, detectors, 2)`` and resampled values ``(metrics, detectors, n)``."""
    shape = (len(MATRIX_METRICS), detector_scores.shape[0])
    nan_bounds = np.full((*shape, 2), np.nan)
    if n_resamples < 1:
        return nan_bounds, None

    def statistic(indices: np.ndarray) -> np.ndarray:
        # indices: (..., images); every detector scores the same resample (paired).
        values = _cell_metrics(labels[indices], detector_scores[:, indices])
        return values.reshape(-1, *values.shape[2:])

    result = stratified_bootstrap(
        labels, statistic, n_resamples=n_resamples, confidence_level=confidence_level, seed=seed
    )
    if result is None:
        return nan_bounds, None
    low = np.asarray(result.confidence_interval.low).reshape(shape)
    high = np.asarray(result.confidence_interval.high).reshape(shape)
    draws = np.asarray(result.bootstrap_distribution).reshape(*shape, n_resamples)
    return np.stack([low, high], axis=-1), draws


def cell_matrix(
    cells: pd.DataFrame,
    column: str,
    row_labels: Mapping[DetectorKey, str],
    generators: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``column`` of ``cells`` as a matrix: one row per detector of ``row_labels`` (in its order, indexed
    by the label, index name ``trained on``), one column per test generator (in the order of
    ``generators``; default: sorted)."""
    keys = [
        tuple(str(part) for part in key) for key in cells[list(CROSS_GENERATOR_KEYS)].itertuples(index=False)
    ]
    labelled = cells.assign(row=[row_labels.get(key) for key in keys]).dropna(subset=["row"])
    matrix = labelled.pivot(index="row", columns="test_generator", values=column)
    columns = list(generators) if generators is not None else sorted(matrix.columns)
    return matrix.reindex(index=list(row_labels.values()), columns=columns).rename_axis(
        index="trained on", columns=None
    )


def interval_matrix(
    cells: pd.DataFrame,
    metric: str,
    row_labels: Mapping[DetectorKey, str],
    generators: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``cell_matrix`` of ``metric`` with, after each test generator ``g``, ``g_ci_low`` and ``g_ci_high``
    (the layout ``interval_markdown`` reads); ``trained on`` is the first column."""
    value, low, high = (
        cell_matrix(cells, column, row_labels, generators) for column in (metric, *interval_keys(metric))
    )
    columns: dict[str, pd.Series] = {}
    for generator in value.columns:
        columns |= {
            generator: value[generator],
            f"{generator}_ci_low": low[generator],
            f"{generator}_ci_high": high[generator],
        }
    return pd.DataFrame(columns).reset_index()


def cross_generator_figure(
    panels: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], *, metric: str, title: str = ""
) -> Figure:
    """Heatmaps side by side, one per panel, with values written in and unseen cells outlined.

    Args:
        panels: panel title -> ``(values, unseen)``: two frames of the same shape, rows the
            training settings and columns the test generators; ``unseen`` holds booleans.
        metric: the metric shown (colour bar label; the scale is 0-1, 0.5 is chance for ROC-AUC).
        title: figure title.
    """
    first = next(iter(panels.values()))[0]
    width = 1.2 + (1.0 + 0.9 * first.shape[1]) * len(panels)
    figure = Figure(figsize=(width, 1.8 + 0.55 * first.shape[0]), layout="constrained")
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for axes, (name, (values, unseen)) in zip(axes_list, panels.items(), strict=True):
        numbers = values.to_numpy(dtype=float)
        image = axes.imshow(np.ma.masked_invalid(numbers), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        texts = np.vectorize(lambda v: "" if math.isnan(v) else f"{v:.2f}", otypes=[object])(numbers)
        annotate_cells(axes, image, texts, fontsize=9)
        for (row, col), is_unseen in np.ndenumerate(unseen.to_numpy(dtype=bool)):
            if is_unseen:
                axes.add_patch(
                    Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2)
                )
        axes.set_xticks(range(values.shape[1]), list(values.columns), rotation=30, ha="right", fontsize=9)
        axes.set_yticks(range(values.shape[0]), list(values.index), fontsize=9)
        axes.set_xlabel("test generator (+ all real test images)")
        axes.set_title(name, fontsize=10)
    axes_list[0].set_ylabel("trained on (real images +)")
    if image is not None:
        figure.colorbar(image, ax=list(axes_list), fraction=0.046, label=METRIC_LABELS.get(metric, metric))
    figure.suptitle(f"{title}\n(red outline: a generator the detector never saw)", fontsize=10)
    return figure
