"""Pictures of region explanations: one image's overlay, and the generators x regions heatmap."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from facetransfer.explanation.regions import REGIONS, RegionExplanation

REGION_COLOURS: dict[str, tuple[int, int, int]] = {
    "eyes": (0, 200, 0),
    "brows": (200, 0, 200),
    "nose": (0, 90, 255),
    "lips": (230, 30, 30),
    "teeth": (250, 250, 250),
    "ears": (0, 210, 210),
    "hair": (240, 200, 0),
    "skin": (150, 150, 150),
    "background": (20, 20, 20),
    "glasses": (0, 110, 110),
    "beard": (255, 170, 170),
}
"""Display colour of each region in the parse panel (close to the Mut1ny label colours)."""


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return (colour[0] / 255, colour[1] / 255, colour[2] / 255)


def figure_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """Render ``figure`` as PNG bytes (Agg canvas, no global backend)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _symmetric_norm(values: np.ndarray) -> TwoSlopeNorm:
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    limit = max(limit, 1e-6)
    return TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)


def explanation_figure(
    explanation: RegionExplanation, *, threshold: float | None = None, title: str = ""
) -> Figure:
    """Three panels: the detector's input, its face parse by region, the contribution per region.

    The heat panel shows each region in its contribution's colour (red: towards fake, blue:
    towards real) over a grey copy of the image; the bars beside it give the numbers.
    """
    # Fixed axes positions: matplotlib's constrained layout took most of the drawing time.
    figure = Figure(figsize=(12, 3.4))
    image_axes, parse_axes, heat_axes = (
        figure.add_axes((left, 0.16, 0.2, 0.68)) for left in (0.01, 0.22, 0.43)
    )
    colorbar_axes = figure.add_axes((0.635, 0.16, 0.01, 0.68))
    bar_axes = figure.add_axes((0.775, 0.16, 0.21, 0.68))
    image_axes.imshow(explanation.image)
    image_axes.set_title("detector input")
    palette = np.array([REGION_COLOURS[name] for name in REGIONS], dtype=np.uint8)
    parse_axes.imshow(palette[explanation.regions])
    parse_axes.set_title("face parse")
    present = list(explanation.contributions)
    parse_axes.legend(
        handles=[Patch(facecolor=_rgb(REGION_COLOURS[n]), edgecolor="grey", label=n) for n in present],
        loc="upper left",
        bbox_to_anchor=(0, -0.02),
        ncol=4,
        fontsize=6,
        frameon=False,
    )
    heat = explanation.heat()
    norm = _symmetric_norm(heat)
    grey = explanation.image.mean(axis=2)
    heat_axes.imshow(grey, cmap="gray", vmin=0, vmax=255)
    shown = heat_axes.imshow(heat, cmap="RdBu_r", norm=norm, alpha=0.65)
    figure.colorbar(shown, cax=colorbar_axes, label="Δ fake probability")
    heat_axes.set_title("contribution per region")
    values = [explanation.contributions[n] for n in present]
    bar_axes.barh(present, values, color=[shown.cmap(norm(v)) for v in values], edgecolor="black")
    bar_axes.axvline(0, color="black", linewidth=0.8)
    bar_axes.invert_yaxis()
    bar_axes.set_xlabel("Δ fake probability (region removed)", fontsize=8)
    bar_axes.tick_params(labelsize=7)
    for axes in (image_axes, parse_axes, heat_axes):
        axes.set_axis_off()
    decided = (
        ""
        if threshold is None
        else f" ({'fake' if explanation.score >= threshold else 'real'} at {threshold:.3f})"
    )
    figure.suptitle(f"{title}fake probability {explanation.score:.3f}{decided}".strip())
    return figure


def region_heatmap_figure(table: pd.DataFrame, *, title: str = "") -> Figure:
    """Heatmap of a ``group x region`` table of mean contributions, with the values written in."""
    values = table.to_numpy(dtype=float)
    figure = Figure(figsize=(1.0 + 0.75 * table.shape[1], 1.2 + 0.45 * table.shape[0]), layout="constrained")
    axes = figure.add_subplot()
    cmap = ListedColormap(["#cccccc"]) if not np.isfinite(values).any() else "RdBu_r"
    shown = axes.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=_symmetric_norm(values), aspect="auto")
    figure.colorbar(shown, ax=axes, fraction=0.046, label="mean Δ fake probability")
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            axes.text(col, row, f"{value:+.3f}", ha="center", va="center", fontsize=7)
    axes.set_xticks(range(table.shape[1]), list(table.columns), rotation=45, ha="right")
    axes.set_yticks(range(table.shape[0]), list(table.index))
    axes.set_title(title)
    return figure
