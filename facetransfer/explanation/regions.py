"""Region attribution: how much each face region, as parsed by the face parser, adds to the fake score.

The paper's premise is that generated faces betray themselves in facial parts. For one image:

1. the registered face parser segments the detector's own input (the same pixels the detector
   sees: the resized image, or the centre crop in crop mode); its classes are grouped into
   regions (eyes, brows, nose, lips, teeth, ears, hair, skin, background, and glasses / beard
   when the parser finds them);
2. captum's ``FeatureAblation`` takes the parse as ``feature_mask``: each region in turn is
   replaced by the baseline (0 after normalisation, i.e. the mean colour of the normalisation
   statistics) and the drop of the detector's fake probability is that region's contribution.

A positive contribution means the region pushes the image towards "fake"; negative, towards
"real". The contributions are in probability units, so they compare across images and models.
All regions present are ablated in one batch (``perturbations_per_eval``): one forward pass of
at most 12 images per explanation, plus the parser's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from facetransfer.classes import ClassScheme
from facetransfer.imaging.resizing import resize_mask
from facetransfer.inputs.preprocessing import Preprocessing

REGIONS: tuple[str, ...] = (
    "eyes",
    "brows",
    "nose",
    "lips",
    "teeth",
    "ears",
    "hair",
    "skin",
    "background",
    "glasses",
    "beard",
)
"""Face regions in display order; every class of both Mut1ny schemes belongs to exactly one."""

REGION_OF_CLASS = {
    "background": "background",
    "face": "skin",
    "left_eye": "eyes",
    "right_eye": "eyes",
    "eyes": "eyes",
    "nose": "nose",
    "left_ear": "ears",
    "right_ear": "ears",
    "ears": "ears",
    "lips": "lips",
    "left_eyebrow": "brows",
    "right_eyebrow": "brows",
    "eyebrows": "brows",
    "hair": "hair",
    "teeth": "teeth",
    "glasses": "glasses",
    "beard": "beard",
}


def region_lookup(scheme: ClassScheme) -> np.ndarray:
    """``lut[class_id]`` = index into ``REGIONS`` of that class's region.

    Raises:
        ValueError: a class of ``scheme`` belongs to no region (names the class).
    """
    lut = np.zeros(scheme.num_classes, dtype=np.int64)
    for face_class in scheme.classes:
        region = REGION_OF_CLASS.get(face_class.name)
        if region is None:
            raise ValueError(f"class {face_class.name!r} of scheme {scheme.name!r} belongs to no face region")
        lut[face_class.id] = REGIONS.index(region)
    return lut


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter or buffer (CPU for a module without tensors)."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        return tensor.device
    return torch.device("cpu")


@dataclass
class FaceParser:
    """The face parser run on a detector's input image.

    Attributes:
        segmenter: the DeepLabV3+ segmenter (eval mode).
        scheme: its class scheme.
        preprocessing: its input settings (resize mode at the size it was trained at).
    """

    segmenter: nn.Module
    scheme: ClassScheme
    preprocessing: Preprocessing

    def parse(self, image: np.ndarray) -> np.ndarray:
        """Class ids ``(H, W)`` of an ``(H, W, 3)`` uint8 image, at the image's own size."""
        prepared = self.preprocessing.normalize(self.preprocessing.stage_one(image))
        with torch.inference_mode():
            logits = self.segmenter(torch.from_numpy(prepared)[None])
        class_ids = logits.argmax(dim=1)[0].numpy().astype(np.uint8)
        return resize_mask(class_ids, (image.shape[1], image.shape[0]))


@dataclass
class RegionExplanation:
    """Why one image got its score.

    Attributes:
        image: the detector's input ``(S, S, 3)`` uint8 (after resize or centre crop).
        class_ids: the face parse ``(S, S)`` of ``image``.
        regions: region index (into ``REGIONS``) of each pixel ``(S, S)``.
        score: the detector's fake probability of the image.
        contributions: region -> fake probability lost when the region is ablated (regions
            present in the parse only, in ``REGIONS`` order).
    """

    image: np.ndarray
    class_ids: np.ndarray
    regions: np.ndarray
    score: float
    contributions: dict[str, float] = field(default_factory=dict)

    def heat(self) -> np.ndarray:
        """``(S, S)`` float map: each pixel holds its region's contribution."""
        values = np.zeros(len(REGIONS), dtype=np.float64)
        for name, value in self.contributions.items():
            values[REGIONS.index(name)] = value
        return values[self.regions]


class RegionExplainer:
    """Region attributions of a detector's fake probability (captum ``FeatureAblation``).

    Args:
        detector: the detector (eval mode; one logit per image).
        parser: the face parser that defines the regions.
    """

    def __init__(self, detector: nn.Module, parser: FaceParser) -> None:
        from captum.attr import FeatureAblation

        self.detector = detector
        self.parser = parser
        self._lookup = region_lookup(parser.scheme)
        self._ablation = FeatureAblation(self._fake_probability)

    def _fake_probability(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.detector(images))

    def explain(self, image: np.ndarray, inputs: np.ndarray) -> RegionExplanation:
        """Explain one image.

        Args:
            image: the detector's input as ``(S, S, 3)`` uint8 (``Preprocessing.finish`` output).
            inputs: the same image normalised, ``(3, S, S)`` float32 (what the detector is fed).
        """
        class_ids = self.parser.parse(image)
        regions = self._lookup[class_ids]
        present = np.unique(regions)
        # captum wants feature ids 0..n-1: number the regions present in this image.
        feature_ids = np.searchsorted(present, regions)
        device = module_device(self.detector)
        tensor = torch.from_numpy(np.ascontiguousarray(inputs))[None].to(device)
        mask = torch.from_numpy(feature_ids)[None, None].to(device).expand_as(tensor)
        with torch.no_grad():
            score = float(self._fake_probability(tensor)[0])
            attributions = self._ablation.attribute(
                tensor, baselines=0.0, feature_mask=mask, perturbations_per_eval=len(present)
            )
        per_feature = attributions[0, 0].cpu().numpy()
        contributions = {}
        for feature, region in enumerate(present):
            first = np.argwhere(feature_ids == feature)[0]
            contributions[REGIONS[int(region)]] = float(per_feature[first[0], first[1]])
        ordered = {name: contributions[name] for name in REGIONS if name in contributions}
        return RegionExplanation(image, class_ids, regions, score, ordered)
