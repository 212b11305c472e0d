"""Region explanations with captum on a detector whose answer depends on known regions only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from facetransfer.classes import MUT1NY_11, MUT1NY_14
from facetransfer.explanation import (
    REGIONS,
    FaceParser,
    RegionExplainer,
    explanation_figure,
    figure_png,
    region_heatmap_figure,
    region_lookup,
)
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
