"""Scoring a table of images: the one scoring path of ``predict``, the HTTP services and batch scoring.

Input: a DataFrame with exactly one of the columns ``path`` (image files) or ``image`` (the
files' bytes; base64 text is decoded too). Each image is decoded by the project's one policy
(``facetransfer.imaging.decoding``) and prepared by the model's own ``Preprocessing``: the caller never
chooses sizes or normalisation. An image that cannot be read yields a row whose ``error`` names
the problem; the other rows are scored as usual.

Output, one row per input row, in order: ``fake_probability``, ``prediction`` (``fake`` /
``real`` at the model's threshold), ``threshold``, ``model_version``, ``error`` (``None`` when
fine) and, when explanations are asked for, ``regions`` (JSON: region -> contribution) and
``explanation_png`` (base64 PNG of the overlay).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from facetransfer.imaging.decoding import ImageDecodeError, ImageSource
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.runtime.device import DeviceSettings, device_settings

logger = logging.getLogger(__name__)

INPUT_COLUMNS = ("path", "image")
OUTPUT_COLUMNS = ("fake_probability", "prediction", "threshold", "model_version", "error")
EXPLANATION_COLUMNS = ("regions", "explanation_png")


class ScoringInputError(ValueError):
    """The request itself is malformed (not one bad image): no column to score, or both."""


@dataclass
class PreparedImage:
    """One input row after decoding: the detector's input, or why there is none."""

    pixels: np.ndarray | None = None
    """``(S, S, 3)`` uint8 detector input (after resize or centre crop)."""
    inputs: np.ndarray | None = None
    """``(3, S, S)`` float32, normalised."""
    error: str | None = None


def input_sources(frame: pd.DataFrame) -> list[ImageSource | str | None]:
    """The image source of each row, or an error message (``str`` prefixed ``error:``) for unusable cells.

    Raises:
        ScoringInputError: ``frame`` has neither or both of the columns ``path`` and ``image``.
    """
    present = [column for column in INPUT_COLUMNS if column in frame.columns]
    if len(present) != 1:
        raise ScoringInputError(
            "the input needs exactly one of the columns 'path' (image files) or 'image' "
            f"(base64-encoded image bytes); got columns {list(map(str, frame.columns))}"
        )
    column = present[0]
    return [_source(value, column) for value in frame[column].tolist()]


def _source(value: Any, column: str) -> ImageSource | str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column == "path":
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return "error: the image cell is neither bytes nor base64 text"
    return f"error: the image cell holds a {type(value).__name__}, expected bytes"


def prepare(source: ImageSource | str | None, preprocessing: Preprocessing) -> PreparedImage:
    """Decode and prepare one source; decoding problems become ``PreparedImage.error``."""
    if source is None:
        return PreparedImage(error="empty cell: no image given")
    if isinstance(source, str) and source.startswith("error: "):
        return PreparedImage(error=source.removeprefix("error: "))
    if isinstance(source, bytes) and not source:
        return PreparedImage(error="empty image: 0 bytes")
    try:
        pixels = preprocessing.finish(preprocessing.load(source))
    except ImageDecodeError as error:
        return PreparedImage(error=str(error))
    return PreparedImage(pixels, preprocessing.normalize(pixels))


@dataclass
class ImageScorer:
    """A detector with everything that decides its scores: input settings, threshold, identity.

    Attributes:
        detector: the detector (eval mode, CPU or CUDA).
        preprocessing: its input settings, as in training and evaluation.
        threshold: the decision threshold chosen on validation.
        model_version: ``<registered model>/<version>`` (or a run reference when unregistered).
        explainer: the region explainer (``None`` when no face parser came with the model).
        batch_size: images per forward pass.
    """

    detector: nn.Module
    preprocessing: Preprocessing
    threshold: float
    model_version: str
    explainer: Any = None
    batch_size: int = 32
    settings: DeviceSettings = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # fp32 in the memory format evaluation uses on this device (channels-last on CUDA and
        # oneDNN CPUs), so served scores are the evaluated ones, as fast.
        self.settings = device_settings(str(self.device), amp=False, num_workers=0)
        self.settings.prepare_model(self.detector)

    @property
    def device(self) -> torch.device:
        return next(self.detector.parameters()).device

    def probabilities(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Fake probabilities of normalised ``(3, S, S)`` inputs (fp32, batched, in order)."""
        scores = np.empty(len(inputs), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(inputs), self.batch_size):
                chunk = inputs[start : start + self.batch_size]
                tensor = self.settings.images_to_device(torch.from_numpy(np.stack(chunk)))
                scores[start : start + len(chunk)] = torch.sigmoid(self.detector(tensor)).cpu().numpy()
        return scores

    def score(self, frame: pd.DataFrame, *, explain: bool = False) -> pd.DataFrame:
        """Score every row of ``frame`` (see the module docstring for the columns).

        Raises:
            ScoringInputError: malformed input (no ``path``/``image`` column, or both).
            ValueError: ``explain`` without a face parser in the model.
        """
        if explain and self.explainer is None:
            raise ValueError(f"{self.model_version} carries no face parser: it cannot explain its scores")
        prepared = [prepare(source, self.preprocessing) for source in input_sources(frame)]
        good = [i for i, item in enumerate(prepared) if item.error is None]
        scores = np.full(len(prepared), np.nan)
        scores[good] = self.probabilities([prepared[i].inputs for i in good])  # type: ignore[misc]
        result = pd.DataFrame(
            {
                "fake_probability": scores,
                "prediction": pd.Series(
                    [
                        None if item.error else ("fake" if score >= self.threshold else "real")
                        for item, score in zip(prepared, scores, strict=True)
                    ],
                    dtype=object,
                ),
                "threshold": self.threshold,
                "model_version": self.model_version,
                "error": pd.Series([item.error for item in prepared], dtype=object),
            }
        )
        if explain:
            explained = [self._explain(item) if item.error is None else (None, None) for item in prepared]
            result["regions"] = pd.Series([regions for regions, _ in explained], dtype=object)
            result["explanation_png"] = pd.Series([png for _, png in explained], dtype=object)
        result.index = frame.index
        bad = len(prepared) - len(good)
        if bad:
            logger.warning("%d of %d images could not be read (see the error column)", bad, len(prepared))
        return result

    def explanation(self, item: PreparedImage) -> Any:
        """The ``RegionExplanation`` of a prepared image."""
        return self.explainer.explain(item.pixels, item.inputs)

    def _explain(self, item: PreparedImage) -> tuple[str, str]:
        from facetransfer.explanation import explanation_figure, figure_png

        explanation = self.explanation(item)
        png = figure_png(explanation_figure(explanation, threshold=self.threshold))
        return json.dumps(explanation.contributions), base64.b64encode(png).decode("ascii")
