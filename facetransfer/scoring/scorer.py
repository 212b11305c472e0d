"""Scoring a table of images: the one scoring path of ``predict``, the HTTP services and batch scoring.

Input: a DataFrame with exactly one of the columns ``path`` (image files) or ``image`` (the
files' bytes; base64 text is decoded too). Each image is decoded by the project's one policy
(``facetransfer.imaging.decoding``) and prepared by the model's own ``Preprocessing``: the caller never
chooses sizes or normalisation. An image that cannot be read yields a row whose ``error`` names
the problem; the other rows are scored as usual.

Faces (``faces=``): ``auto`` (default) finds faces first (``facetransfer.faces``). A picture that is
already a single face crop, or in which no face is found (``face_found`` false), is scored whole as
before; a larger picture is cut into one aligned crop per face, with the geometry the model was
trained on (``ImageScorer.face_settings``). ``align`` always cuts faces (no face: an error row);
``off`` always scores the whole picture. A video (by extension, or by container signature for
bytes) is sampled, its faces linked into tracks, and each track scored by the mean of its frames.

Output, one row per face (per track for a video, per input when it is scored whole), in input
order: ``input_index`` (the input row it comes from), ``face_index`` (missing when scored whole),
``face_found``, ``box`` and ``landmarks`` (JSON, picture coordinates), ``detector_confidence``,
``fake_probability``, ``prediction`` (``fake`` / ``real`` at the model's threshold),
``threshold``, ``model_version``, ``error`` (``None`` when fine), the input's verdict
``image_fake_probability`` / ``image_prediction`` (rule: ``IMAGE_RULE``), for videos ``frames``
and ``track_scores`` (JSON ``[[seconds, probability], ...]``) and, when explanations are asked for,
``regions`` (JSON: region -> contribution) and ``explanation_png`` (base64 PNG of the overlay,
drawn on the face's aligned crop).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from facetransfer.evaluation.calibration import calibrated_scores
from facetransfer.faces.detection import FaceDetector
from facetransfer.faces.face_settings import FaceMode, FaceSettings
from facetransfer.faces.video import VideoSettings
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.runtime.device import DeviceSettings, device_settings
from facetransfer.scoring.face_inputs import prepare_input
from facetransfer.scoring.requests import (
    INPUT_COLUMNS,
    PreparedImage,
    ScoringInputError,
    input_sources,
    prepare,
)

__all__ = [
    "EXPLANATION_COLUMNS",
    "FACE_COLUMNS",
    "INPUT_COLUMNS",
    "OUTPUT_COLUMNS",
    "ImageScorer",
    "PreparedImage",
    "ScoringInputError",
    "input_sources",
    "prepare",
]

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("fake_probability", "prediction", "threshold", "model_version", "error")
FACE_COLUMNS = (
    "input_index",
    "face_index",
    "face_found",
    "box",
    "landmarks",
    "detector_confidence",
    "image_fake_probability",
    "image_prediction",
    "frames",
    "track_scores",
)
IMAGE_RULE = "highest face score against the threshold"
COLUMN_DTYPES = {
    "input_index": "int64",
    "face_index": "Int64",
    "face_found": "bool",
    "detector_confidence": "float64",
    "fake_probability": "float64",
    "threshold": "float64",
    "frames": "Int64",
}
EXPLANATION_COLUMNS = ("regions", "explanation_png")


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
        temperature: the model's calibration temperature (1: the raw sigmoid); ``threshold`` is on
            the calibrated scale.

    Thread-safe: concurrent ``score`` calls decode and prepare their images in parallel; their
    forward passes (scores and explanations) take turns, so that the model's activations and
    compute threads are those of one batch at a time.
    """

    detector: nn.Module
    preprocessing: Preprocessing
    threshold: float
    model_version: str
    explainer: Any = None
    batch_size: int = 32
    temperature: float = 1.0
    face_settings: FaceSettings = field(default_factory=FaceSettings)
    """The face geometry of the model's training crops (FFHQ-style unless ingestion aligned them)."""
    face_mode: FaceMode = "auto"
    video_settings: VideoSettings = field(default_factory=VideoSettings)
    face_detector: FaceDetector = field(init=False, repr=False)
    settings: DeviceSettings = field(init=False, repr=False)
    forward_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # fp32 in the memory format evaluation uses on this device (channels-last on CUDA and
        # oneDNN CPUs), so served scores are the evaluated ones, as fast.
        self.settings = device_settings(str(self.device), amp=False, num_workers=0)
        self.settings.prepare_model(self.detector)
        self.face_detector = FaceDetector(self.face_settings)

    @property
    def device(self) -> torch.device:
        return next(self.detector.parameters()).device

    def probabilities(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Fake probabilities ``sigmoid(logit / temperature)`` of normalised ``(3, S, S)`` inputs, in order.

        The forward pass and the sigmoid run in fp32, as in evaluation; the temperature is applied
        by ``calibrated_scores``, the function evaluation applied when it re-expressed the
        threshold, so served probabilities and decisions are the evaluated ones.
        """
        scores = np.empty(len(inputs), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(inputs), self.batch_size):
                chunk = inputs[start : start + self.batch_size]
                tensor = self.settings.images_to_device(torch.from_numpy(np.stack(chunk)))
                with self.forward_lock:
                    scores[start : start + len(chunk)] = torch.sigmoid(self.detector(tensor)).cpu().numpy()
        return calibrated_scores(scores, self.temperature)

    def score(
        self, frame: pd.DataFrame, *, explain: bool = False, faces: FaceMode | None = None
    ) -> pd.DataFrame:
        """Score every row of ``frame`` (see the module docstring for the modes and columns).

        Raises:
            ScoringInputError: malformed input (no ``path``/``image`` column, or both; unknown mode;
                ``explain`` asked of a model without a face parser).
        """
        if explain and self.explainer is None:
            raise ScoringInputError(
                f"{self.model_version} carries no face parser: it cannot explain its scores"
            )
        mode = faces or self.face_mode
        if mode not in ("auto", "align", "off"):
            raise ScoringInputError(f"faces must be one of auto, align, off; got {mode!r}")
        items: list[PreparedImage] = []
        for index, source in enumerate(input_sources(frame)):
            for item in prepare_input(
                source,
                preprocessing=self.preprocessing,
                mode=mode,
                detector=self.face_detector,
                video=self.video_settings,
            ):
                item.input_index = index
                items.append(item)
        good = [i for i, item in enumerate(items) if item.error is None]
        scores = np.full(len(items), np.nan)
        scores[good] = self.probabilities([items[i].inputs for i in good])  # type: ignore[misc]
        rows = self._rows(items, scores, explain)
        columns = FACE_COLUMNS[:6] + OUTPUT_COLUMNS + FACE_COLUMNS[8:]
        # object columns keep None as None (pandas 3 would infer a string dtype and turn it to NaN)
        result = pd.DataFrame(
            {
                column: pd.Series([row[column] for row in rows], dtype=COLUMN_DTYPES.get(column, object))
                for column in columns
            }
        )
        image_scores = result.groupby("input_index")["fake_probability"].max()
        result["image_fake_probability"] = result["input_index"].map(image_scores)
        result["image_prediction"] = pd.Series(
            [
                None if np.isnan(score) else ("fake" if score >= self.threshold else "real")
                for score in result["image_fake_probability"]
            ],
            dtype=object,
        )
        result = result[list(FACE_COLUMNS[:6] + OUTPUT_COLUMNS + FACE_COLUMNS[6:])]
        if explain:
            for column in EXPLANATION_COLUMNS:
                result[column] = pd.Series([row.get(column) for row in rows], dtype=object)
        result.index = frame.index[result["input_index"].to_numpy()]
        bad = int(result["error"].notna().sum())
        if bad:
            logger.warning("%d of %d rows could not be scored (see the error column)", bad, len(result))
        return result

    def _rows(self, items: list[PreparedImage], scores: np.ndarray, explain: bool) -> list[dict[str, Any]]:
        """One row per item; a video's items (several frames per track) become one row per track."""
        groups: dict[tuple[int, int | None, bool], list[int]] = {}
        for position, item in enumerate(items):
            video_track = item.time_s is not None
            key = (item.input_index, item.face_index if video_track else position, video_track)
            groups.setdefault(key, []).append(position)
        rows = []
        for (input_index, _, video_track), positions in groups.items():
            first = items[positions[0]]
            values = [float(scores[p]) for p in positions if not np.isnan(scores[p])]
            score = float(np.mean(values)) if values else float("nan")
            row: dict[str, Any] = {
                "input_index": input_index,
                "face_index": first.face_index,
                "face_found": first.face is not None,
                "box": None if first.face is None else json.dumps(first.face["box"]),
                "landmarks": None if first.face is None else json.dumps(first.face["landmarks"]),
                "detector_confidence": np.nan if first.face is None else first.face["confidence"],
                "fake_probability": score,
                "prediction": None if first.error else ("fake" if score >= self.threshold else "real"),
                "threshold": self.threshold,
                "model_version": self.model_version,
                "error": first.error,
                "frames": len(positions) if video_track else None,
                "track_scores": (
                    json.dumps(
                        [[round(items[p].time_s or 0.0, 3), round(float(scores[p]), 6)] for p in positions]
                    )
                    if video_track
                    else None
                ),
            }
            if explain and first.error is None:
                best = max(
                    positions, key=lambda p: scores[p]
                )  # a track is explained on its most telling frame
                row["regions"], row["explanation_png"] = self._explain(items[best])
            rows.append(row)
        return rows

    def explanation(self, item: PreparedImage) -> Any:
        """The ``RegionExplanation`` of a prepared image (the face parser's and detector's forward passes)."""
        with self.forward_lock:
            return self.explainer.explain(item.pixels, item.inputs)

    def _explain(self, item: PreparedImage) -> tuple[str, str]:
        from facetransfer.explanation import explanation_figure, figure_png

        explanation = self.explanation(item)
        png = figure_png(explanation_figure(explanation, threshold=self.threshold))
        return json.dumps(explanation.contributions), base64.b64encode(png).decode("ascii")
