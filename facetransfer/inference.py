"""Scoring images with a registered detector (``facetransfer predict``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from facetransfer.data.readers.paths import list_image_files
from facetransfer.data.sources import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named by ``inputs`` (files, or folders searched recursively, hidden entries skipped).

    Raises:
        FileNotFoundError: an input does not exist, or no image was found.
    """
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images += list_image_files(item)
        elif item.is_file():
            images.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(map(str, inputs))}")
    return images


def score_images(
    images: Sequence[Path], *, model_name: str, alias: str, tracking_uri: str, batch_size: int = 64
) -> pd.DataFrame:
    """Fake probability and decision of each image, by the registered ``model_name@alias``.

    The decision threshold, image size and backbone come from the model version's tags (set
    when it was registered), so scoring matches the evaluation that promoted the model.

    Returns:
        Columns ``path``, ``fake_probability``, ``prediction`` (``fake``/``real``), ``model_version``.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from facetransfer.evaluation import predict_scores
    from facetransfer.tracking.registry import alias_version, load_registered_detector

    mlflow.set_tracking_uri(tracking_uri)
    version = alias_version(MlflowClient(), model_name, alias)
    if version is None:
        raise LookupError(
            f"no registered model {model_name}@{alias} in {tracking_uri}: run the pipeline first"
        )
    detector = load_registered_detector(model_name, version)
    frame = pd.DataFrame({"path": [str(p.resolve()) for p in images]})
    scores = predict_scores(
        detector.model,
        frame,
        preprocessing=detector.preprocessing,
        batch_size=batch_size,
    )
    threshold = detector.threshold
    return frame.assign(
        fake_probability=scores,
        prediction=["fake" if s >= threshold else "real" for s in scores],
        model_version=f"{model_name}/{version.version}",
    )
