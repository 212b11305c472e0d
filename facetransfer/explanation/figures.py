"""Pictures of region explanations: one image's overlay, and the generators x regions heatmap.

Every figure colours contributions on one fixed, symmetric scale: ``-CONTRIBUTION_LIMIT`` (blue,
towards "real") to ``+CONTRIBUTION_LIMIT`` (red, towards "fake"), with ``CONTRIBUTION_LIMIT`` = 1,
the most a fake probability can change. The scale is not stretched to each image's largest
value, so the same colour means the same effect in every picture: a region that moves the score
by 0.0002 stays white, one that moves it by 0.5 is mid red. Numbers are written with three
decimals (``format_contribution``); an effect under 0.0005 reads ``0.000``.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from facetransfer.evaluation.plots import annotate_cells
from facetransfer.explanation.regions import REGIONS, RegionExplanation

CONTRIBUTION_LIMIT = 1.0
"""Ends of the colour scale of every contribution figure (a probability changes by at most 1)."""

CONTRIBUTION_UNITS = "fake probability lost\nwhen the region is removed"
"""What a contribution is, as the colour bars and axes name it."""

CONTRIBUTION_COLOURS = "RdBu_r"

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


def contribution_norm() -> Normalize:
    """The fixed colour scale of contributions: ``-CONTRIBUTION_LIMIT`` .. ``+CONTRIBUTION_LIMIT``."""
    return Normalize(vmin=-CONTRIBUTION_LIMIT, vmax=CONTRIBUTION_LIMIT)


def format_contribution(value: float) -> str:
    """A contribution with three decimals and its sign; ``0.000`` (no sign) below 0.0005, ``n/a`` for NaN."""
    if not np.isfinite(value):
        return "n/a"
    rounded = round(float(value), 3)
    return "0.000" if rounded == 0 else f"{rounded:+.3f}"


def _label_colour_bar(colour_bar: Colorbar, *, label: str, fontsize: float) -> None:
    colour_bar.set_label(label, fontsize=fontsize)
    colour_bar.set_ticks([-1.0, -0.5, 0.0, 0.5, 1.0])
    colour_bar.ax.tick_params(labelsize=fontsize)
    colour_bar.ax.text(
        0.5, 1.02, "fake", ha="center", va="bottom", fontsize=fontsize, transform=colour_bar.ax.transAxes
    )
    colour_bar.ax.text(
        0.5, -0.02, "real", ha="center", va="top", fontsize=fontsize, transform=colour_bar.ax.transAxes
    )


def explanation_figure(
    explanation: RegionExplanation, *, threshold: float | None = None, title: str = ""
) -> Figure:
    """Three panels: the detector's input, its face parse by region, the contribution per region.

    The heat panel shows each region in its contribution's colour (red: towards fake, blue:
    towards real; fixed scale, see the module docstring) over a grey copy of the image; the bars
    beside it, on the same scale, give the numbers (three decimals).
    """
    # Fixed axes positions: matplotlib's constrained layout took most of the drawing time.
    figure = Figure(figsize=(13, 4.2))
    bottom, height = 0.25, 0.6
    image_axes, parse_axes, heat_axes = (
        figure.add_axes((left, bottom, 0.19, height)) for left in (0.01, 0.21, 0.41)
    )
    colorbar_axes = figure.add_axes((0.605, bottom, 0.01, height))
    bar_axes = figure.add_axes((0.755, bottom, 0.17, height))
    for axes, name in (
        (image_axes, "detector input"),
        (parse_axes, "face parse"),
        (heat_axes, "contribution per region"),
    ):
        axes.set_title(name, fontsize=12)
        axes.set_axis_off()
    image_axes.imshow(explanation.image)
    palette = np.array([REGION_COLOURS[name] for name in REGIONS], dtype=np.uint8)
    parse_axes.imshow(palette[explanation.regions])
    present = list(explanation.contributions)
    parse_axes.legend(
        handles=[Patch(facecolor=_rgb(REGION_COLOURS[n]), edgecolor="grey", label=n) for n in present],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=4,
        fontsize=9,
        frameon=False,
        handlelength=1.2,
        columnspacing=0.8,
    )
    norm = contribution_norm()
    grey = explanation.image.mean(axis=2)
    heat_axes.imshow(grey, cmap="gray", vmin=0, vmax=255)
    shown = heat_axes.imshow(explanation.heat(), cmap=CONTRIBUTION_COLOURS, norm=norm, alpha=0.7)
    _label_colour_bar(figure.colorbar(shown, cax=colorbar_axes), label=CONTRIBUTION_UNITS, fontsize=10)
    _contribution_bars(bar_axes, explanation.contributions, shown.cmap, norm)
    decided = (
        ""
        if threshold is None
        else f" ({'fake' if explanation.score >= threshold else 'real'} at threshold {threshold:.3f})"
    )
    figure.suptitle(f"{title}fake probability {explanation.score:.3f}{decided}".strip(), fontsize=14)
    return figure


def _contribution_bars(axes: Axes, contributions: dict[str, float], cmap: Colormap, norm: Normalize) -> None:
    """Horizontal bars on the fixed scale, each region's rounded value written beside the axes."""
    names, values = list(contributions), list(contributions.values())
    axes.barh(names, values, color=[cmap(norm(v)) for v in values], edgecolor="black", linewidth=0.6)
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlim(-CONTRIBUTION_LIMIT, CONTRIBUTION_LIMIT)
    axes.set_xticks([-1.0, -0.5, 0.0, 0.5, 1.0])
    axes.invert_yaxis()
    axes.set_xlabel(CONTRIBUTION_UNITS.replace("\n", " "), fontsize=10)
    axes.tick_params(labelsize=10)
    axes.grid(axis="x", alpha=0.3)
    for row, value in enumerate(values):
        text = format_contribution(value)
        axes.text(
            1.03,
            row,
            text,
            transform=axes.get_yaxis_transform(),
            ha="left",
            va="center",
            fontsize=10,
            family="monospace",
            color="grey" if text == "0.000" else "black",
        )


def region_heatmap_figure(table: pd.DataFrame, *, title: str = "") -> Figure:
    """Heatmap of a ``group x region`` table of mean contributions, with the values written in.

    Colours use the fixed scale of the module docstring; cells without a value are light grey.
    """
    values = table.to_numpy(dtype=float)
    figure = Figure(figsize=(2.0 + 0.85 * table.shape[1], 1.6 + 0.5 * table.shape[0]), layout="constrained")
    axes = figure.add_subplot()
    cmap = colormaps[CONTRIBUTION_COLOURS].with_extremes(bad="#dddddd")
    shown = axes.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=contribution_norm(), aspect="auto")
    _label_colour_bar(
        figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04),
        label="mean " + CONTRIBUTION_UNITS,
        fontsize=9,
    )
    texts = np.vectorize(format_contribution, otypes=[object])(values)
    annotate_cells(axes, shown, texts, fontsize=9)
    axes.set_xticks(range(table.shape[1]), list(table.columns), rotation=45, ha="right", fontsize=10)
    axes.set_yticks(range(table.shape[0]), list(table.index), fontsize=10)
    axes.set_title(title, fontsize=11)
    return figure
