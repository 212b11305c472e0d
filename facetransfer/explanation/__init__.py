"""Explanations by face region: which parts of a face, as the face parser sees them, drive a fake score.

Public API: ``FaceParser``, ``RegionExplainer``, ``RegionExplanation``, ``REGIONS``,
``explanation_figure``, ``region_heatmap_figure``, ``figure_png``.
"""

from facetransfer.explanation.figures import explanation_figure, figure_png, region_heatmap_figure
from facetransfer.explanation.regions import (
    REGIONS,
    FaceParser,
    RegionExplainer,
    RegionExplanation,
    region_lookup,
)

__all__ = [
    "REGIONS",
    "FaceParser",
    "RegionExplainer",
    "RegionExplanation",
    "explanation_figure",
    "figure_png",
    "region_heatmap_figure",
    "region_lookup",
]
