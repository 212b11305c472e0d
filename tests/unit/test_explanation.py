"""Region explanations with captum on a detector whose answer depends on known regions only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from facetransfer.classes import MUT1NY_11, MUT1NY_14
from facetransfer.evaluation.plots import relative_luminance
from facetransfer.explanation import (
    REGIONS,
    FaceParser,
    RegionExplainer,
    RegionExplanation,
    explanation_figure,
    figure_png,
    region_heatmap_figure,
    region_lookup,
)
from facetransfer.explanation.figures import CONTRIBUTION_LIMIT, format_contribution
from facetransfer.inputs.preprocessing import Preprocessing

SIZE = 64


class FixedParse(nn.Module):
    """A "segmenter" whose parse is a fixed mask: left half hair, an eye box, the rest skin."""

    def __init__(self, class_ids: np.ndarray, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("logits", nn.functional.one_hot(torch.from_numpy(class_ids).long(), num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits.permute(2, 0, 1)[None].float().expand(images.shape[0], -1, -1, -1)


class EyeBrightness(nn.Module):
    """A "detector" whose logit is 4 x the mean input over the eye box (and nothing else)."""

    def __init__(self, eye: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("eye", torch.from_numpy(eye).float())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return 4 * (images * self.eye).sum(dim=(1, 2, 3)) / (3 * self.eye.sum())


def test_every_class_of_both_schemes_has_a_region() -> None:
    for scheme in (MUT1NY_14, MUT1NY_11):
        names = {REGIONS[i] for i in region_lookup(scheme)}
        assert {"eyes", "brows", "nose", "lips", "teeth", "ears", "hair", "skin", "background"} <= names


def test_feature_ablation_credits_only_the_region_the_detector_looks_at() -> None:
    class_ids = np.full((SIZE, SIZE), MUT1NY_14.id_of("face"), dtype=np.uint8)
    class_ids[:, : SIZE // 2] = MUT1NY_14.id_of("hair")
    eye = np.zeros((SIZE, SIZE), dtype=bool)
    eye[20:28, 36:48] = True
    class_ids[eye] = MUT1NY_14.id_of("left_eye")
    parser = FaceParser(FixedParse(class_ids, 14), MUT1NY_14, Preprocessing.for_backbone("resnet50", SIZE))
    detector = EyeBrightness(eye)
    image = np.full((SIZE, SIZE, 3), 240, dtype=np.uint8)  # bright: the eye region pushes towards fake
    inputs = Preprocessing.for_backbone("resnet50", SIZE).normalize(image)

    explanation = RegionExplainer(detector, parser).explain(image, inputs)

    assert list(explanation.contributions) == ["eyes", "hair", "skin"]  # present regions, display order
    score = float(torch.sigmoid(detector(torch.from_numpy(inputs)[None]))[0])
    assert explanation.score == pytest.approx(score)
    # Removing the eyes (baseline 0) brings the logit to 0: the eyes contributed score - 0.5.
    assert explanation.contributions["eyes"] == pytest.approx(score - 0.5, abs=1e-6)
    assert explanation.contributions["hair"] == 0 and explanation.contributions["skin"] == 0
    heat = explanation.heat()
    assert heat[eye].min() == heat[eye].max() == pytest.approx(score - 0.5, abs=1e-6)
    assert figure_png(explanation_figure(explanation, threshold=0.5)).startswith(b"\x89PNG")


def test_heatmap_of_a_generator_by_region_table_renders() -> None:
    table = pd.DataFrame({"eyes": [0.2, np.nan], "skin": [-0.05, 0.01]}, index=["tconv", "real"])
    assert figure_png(region_heatmap_figure(table, title="mean")).startswith(b"\x89PNG")


def _explanation(contributions: dict[str, float]) -> RegionExplanation:
    """An explanation of a grey square split into hair (left) and skin (right)."""
    regions = np.full((SIZE, SIZE), REGIONS.index("skin"), dtype=np.int64)
    regions[:, : SIZE // 2] = REGIONS.index("hair")
    image = np.full((SIZE, SIZE, 3), 128, dtype=np.uint8)
    return RegionExplanation(image, regions, regions, 0.5, contributions)


def _axes_titled(figure: Figure, title: str) -> Axes:
    return next(axes for axes in figure.axes if axes.get_title() == title)


@pytest.mark.parametrize("size", [0.0002, 0.8])
def test_explanation_colours_use_one_fixed_scale_whatever_the_effect_size(size: float) -> None:
    figure = explanation_figure(_explanation({"hair": size, "skin": -size / 2}), threshold=0.5)

    heat = _axes_titled(figure, "contribution per region").get_images()[-1]
    assert heat.get_clim() == (-CONTRIBUTION_LIMIT, CONTRIBUTION_LIMIT) == (-1.0, 1.0)
    assert heat.colorbar is not None and "fake probability lost" in heat.colorbar.ax.get_ylabel()
    bars = next(axes for axes in figure.axes if axes.patches)
    assert bars.get_xlim() == (-1.0, 1.0)
    hair_bar = bars.patches[0]
    written = [text.get_text() for text in bars.texts]
    if size < 0.001:  # a tiny effect: pale bar (near white), written as 0.000
        assert relative_luminance(hair_bar.get_facecolor()) > 0.9
        assert written == ["0.000", "0.000"]
    else:  # a large one: a dark bar, the value to three decimals
        assert relative_luminance(hair_bar.get_facecolor()) < 0.2
        assert written == ["+0.800", "-0.400"]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (0.0002, "0.000"),
        (-0.0004, "0.000"),
        (0.0, "0.000"),
        (0.1234, "+0.123"),
        (-0.05, "-0.050"),
        (np.nan, "n/a"),
    ],
)
def test_contributions_are_written_with_three_decimals(value: float, written: str) -> None:
    assert format_contribution(value) == written


def test_heatmap_uses_the_fixed_scale_and_text_that_reads_on_its_cell() -> None:
    table = pd.DataFrame({"background": [0.9, 0.0002], "glasses": [-0.8, np.nan]}, index=["tconv", "real"])
    figure = region_heatmap_figure(table, title="mean")

    axes = _axes_titled(figure, "mean")
    assert axes.get_images()[0].get_clim() == (-1.0, 1.0)
    colours = {text.get_text(): text.get_color() for text in axes.texts}
    assert colours == {"+0.900": "white", "-0.800": "white", "0.000": "black", "n/a": "black"}
