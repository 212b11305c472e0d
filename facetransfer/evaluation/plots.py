"""Evaluation plots: confusion matrices, ROC curves, segmentation overlays, robustness curves.

Figures are built with ``matplotlib.figure.Figure`` directly (not pyplot), so nothing selects a
GUI backend or keeps global figure state; ``save_figure`` renders PNG with the Agg canvas.
Numbers written on heatmap cells (``annotate_cells``) are white on dark cells and black on light
ones, chosen from each cell's colour, so they stay readable at both ends of a colour map.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from sklearn.metrics import roc_auc_score, roc_curve

from facetransfer.classes import ClassScheme

logger = logging.getLogger(__name__)

DETECTION_CLASS_NAMES = ("real", "fake")

METRIC_LABELS = {"roc_auc": "ROC-AUC", "average_precision": "average precision", "f1": "F1"}
"""Axis labels of the metrics that figures plot (others are shown by their key)."""

CHANCE_ROC_AUC = 0.5

# Relative luminance at which black and white text have the same contrast ratio (WCAG 2):
# (L + 0.05) / 0.05 == 1.05 / (L + 0.05)  <=>  L = sqrt(1.05 * 0.05) - 0.05.
_EQUAL_CONTRAST_LUMINANCE = (1.05 * 0.05) ** 0.5 - 0.05


def relative_luminance(rgba: Sequence[float] | np.ndarray) -> float:
    """WCAG relative luminance (0: black, 1: white) of an sRGB colour given as floats in [0, 1]."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_colour_on(rgba: Sequence[float] | np.ndarray) -> str:
    """``"white"`` on a dark background colour, ``"black"`` on a light one (whichever contrasts more)."""
    return "white" if relative_luminance(rgba) < _EQUAL_CONTRAST_LUMINANCE else "black"


def annotate_cells(axes: Axes, image: AxesImage, texts: np.ndarray, **text_options: Any) -> None:
    """Write ``texts[row, col]`` in the centre of each heatmap cell, white or black by the cell's colour.

    Args:
        axes: the axes holding ``image``.
        image: the heatmap (``imshow`` of a 2-D array, whose colour map and norm give each cell's colour).
        texts: one string per cell, same shape as the image's array; empty strings are skipped.
        **text_options: passed to ``Axes.text`` (font size, for example).
    """
    values = image.get_array()
    if values is None:
        raise ValueError("the heatmap holds no data to annotate")
    colours = image.to_rgba(values)
    if texts.shape != colours.shape[:2]:
        raise ValueError(f"{texts.shape} cell texts for a heatmap of {colours.shape[:2]} cells")
    for (row, col), text in np.ndenumerate(texts):
        if text:
            colour = text_colour_on(colours[row, col])
            axes.text(col, row, text, ha="center", va="center", color=colour, **text_options)


def detection_confusion_matrix(metrics: Mapping[str, Any]) -> np.ndarray:
    """``[[tn, fp], [fn, tp]]`` from a ``detection_metrics`` result (rows: truth, columns: prediction)."""
    return np.array([[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]], dtype=np.int64)


def confusion_matrix_figure(
    matrix: np.ndarray, labels: Sequence[str] = DETECTION_CLASS_NAMES, *, title: str = ""
) -> Figure:
    """Heat map of a confusion matrix (rows: true class, columns: predicted) with counts and row %.

    Args:
        matrix: ``(n, n)`` counts.
        labels: class names, in matrix order.
        title: figure title.
    """
    matrix = np.asarray(matrix)
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix shape {matrix.shape} does not match {len(labels)} labels")
    row_totals = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, row_totals, out=np.zeros(matrix.shape), where=row_totals > 0)
    size = max(3.5, 0.5 * len(labels) + 2)
    figure = Figure(figsize=(size, size), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, label="fraction of true class")
    if len(labels) <= 6:
        texts = np.empty(matrix.shape, dtype=object)
        for (row, col), count in np.ndenumerate(matrix):
            texts[row, col] = f"{count}\n{fractions[row, col]:.1%}"
        annotate_cells(axes, image, texts)
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 6 else 0)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    return figure


def roc_curves_figure(curves: Mapping[str, tuple[Any, Any]], *, title: str = "ROC") -> Figure:
    """ROC curves of several score sets on one figure, the AUC in each legend entry.

    Args:
        curves: name -> ``(y_true, fake scores)``; sets holding only one class are skipped (logged).
        title: figure title.
    """
    figure = Figure(figsize=(5, 5), layout="constrained")
    axes = figure.add_subplot()
    for name, (y_true, scores) in curves.items():
        labels = np.asarray(y_true)
        if np.unique(labels).size < 2:
            logger.info("ROC curve %r skipped: its samples hold a single class", name)
            continue
        fpr, tpr, _ = roc_curve(labels, np.asarray(scores))
        axes.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, scores):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false positive rate (real called fake)")
    axes.set_ylabel("true positive rate (fake detected)")
    axes.set_title(title)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower right", fontsize="small")
    return figure


def colorize_mask(class_ids: np.ndarray, scheme: ClassScheme) -> np.ndarray:
    """``(H, W, 3)`` uint8 label image of ``class_ids`` in the scheme's palette (unknown ids: black)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: scheme.num_classes] = scheme.palette_array()
    return palette[np.asarray(class_ids, dtype=np.uint8)]


def segmentation_overlay_figure(
    examples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    scheme: ClassScheme,
    *,
    alpha: float = 0.5,
    title: str = "",
) -> Figure:
    """One row per example: the image, the ground truth over it, the prediction over it.

    Args:
        examples: ``(image (H, W, 3) uint8, true ids (H, W), predicted ids (H, W))`` triples.
        scheme: class scheme giving the colours.
        alpha: opacity of the label colours.
        title: figure title.
    """
    if not examples:
        raise ValueError("segmentation_overlay_figure needs at least one example")
    figure = Figure(figsize=(7.5, 2.6 * len(examples)), layout="constrained")
    grid = figure.subplots(len(examples), 3, squeeze=False)
    for row, (image, truth, prediction) in enumerate(examples):
        panels = (
            ("image", image),
            ("ground truth", _blend(image, colorize_mask(truth, scheme), alpha)),
            ("prediction", _blend(image, colorize_mask(prediction, scheme), alpha)),
        )
        for axes, (name, picture) in zip(grid[row], panels, strict=True):
            axes.imshow(picture)
            axes.set_axis_off()
            if row == 0:
                axes.set_title(name)
    if title:
        figure.suptitle(title)
    return figure


def _blend(image: np.ndarray, colours: np.ndarray, alpha: float) -> np.ndarray:
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    return blended.round().astype(np.uint8)


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Render ``figure`` to a PNG file at ``path`` (parent directories created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)  # attaches the Agg canvas to the figure; no global backend switch
    figure.savefig(path, format="png", dpi=dpi)
    return path


def robustness_figure(
    curves: Mapping[str, Mapping[str, float]], *, metric: str = "roc_auc", title: str = ""
) -> Figure:
    """One line per model: ``metric`` on the clean test split and under each perturbation.

    For ROC-AUC the chance level (0.5, a detector that guesses) is drawn and named in the legend,
    so a curve that falls to it reads as "the detector no longer separates real from fake".

    Args:
        curves: model name → (``"clean"`` and perturbation names → value), in plotting order.
        metric: the metric plotted (y axis, named by ``METRIC_LABELS``).
        title: figure title.
    """
    names = list(dict.fromkeys(name for values in curves.values() for name in values))
    figure = Figure(figsize=(max(6.0, 0.8 * len(names) + 2), 4.5), layout="constrained")
    axes = figure.add_subplot()
    for model, values in curves.items():
        axes.plot(range(len(names)), [values.get(n, np.nan) for n in names], marker="o", label=model)
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right")
    label = METRIC_LABELS.get(metric, metric)
    axes.set_xlabel("test split: clean, then each perturbation")
    axes.set_ylabel(f"{label} (test split)")
    axes.set_ylim(0.0, 1.02)
    if metric == "roc_auc":
        axes.axhline(
            CHANCE_ROC_AUC,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"chance (ROC-AUC {CHANCE_ROC_AUC})",
        )
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="lower left")
    axes.set_title(title)
    return figure
