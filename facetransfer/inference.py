"""Scoring images with a registered detector (``facetransfer predict``).

One bad file never costs the others their scores: each image is first decoded on its own
(``decode_image``, which returns an error instead of raising), the decodable ones are scored, and
each one that is not gets a row with an empty probability and its reason in the ``error`` column.
Sizes are checked from the header before any pixel is decoded (decompression-bomb guard).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facetransfer.data.image_checks import DEFAULT_MAX_IMAGE_PIXELS
from facetransfer.data.preprocessing import Preprocessing
from facetransfer.data.readers.paths import list_image_files
from facetransfer.data.sources import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("path", "fake_probability", "prediction", "model_version", "error")


@dataclass(frozen=True)
class DecodedImage:
    """One image as the detector reads it, or why it cannot be read.

    Attributes:
        path: the file.
        pixels: the model's ``(size, size, 3)`` uint8 RGB input before normalisation, ``None``
            when the file could not be decoded.
        error: what is wrong with the file (names it), ``None`` when ``pixels`` is set.
    """

    path: Path
    pixels: np.ndarray | None
    error: str | None = None


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


def decode_image(
    path: str | Path, preprocessing: Preprocessing, *, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> DecodedImage:
    """Decode ``path`` as the detector reads it (``preprocessing``); never raises for bad content.

    The header is checked against ``max_image_pixels`` before any pixel is decoded.

    Returns:
        The pixels, or ``pixels=None`` and an ``error`` naming the file and the problem (missing,
        not an image, truncated, corrupt, too large).
    """
    path = Path(path)
    try:
        pixels = preprocessing.finish(preprocessing.load(path, max_pixels=max_image_pixels))
        return DecodedImage(path, pixels)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return DecodedImage(path, None, str(error) or f"cannot read image {path}: {type(error).__name__}")


def score_images(
    images: Sequence[Path],
    *,
    model_name: str,
    alias: str,
    tracking_uri: str,
    batch_size: int = 64,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> pd.DataFrame:
    """Fake probability and decision of each image, by the registered ``model_name@alias``.

    The decision threshold, image size and backbone come from the model version's tags (set
    when it was registered), so scoring matches the evaluation that promoted the model. Images
    that cannot be decoded are not scored: their row has an empty probability and prediction
    and the reason in ``error``.

    Returns:
        Columns ``path``, ``fake_probability``, ``prediction`` (``fake``/``real``),
        ``model_version`` and ``error`` (``None`` for scored images), in the order of ``images``.

    Raises:
        LookupError: there is no ``model_name@alias`` in the registry.
        RegistryUnavailableError: the registry cannot be reached.
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
    paths = [Path(p).resolve() for p in images]
    # Each file is decoded once on its own first, so one bad file cannot fail the batch it is in.
    errors = [
        decode_image(path, detector.preprocessing, max_image_pixels=max_image_pixels).error for path in paths
    ]
    frame = pd.DataFrame(
        {"path": [str(p) for p in paths], "fake_probability": np.nan, "prediction": None, "error": errors}
    )
    good = frame["error"].isna()
    if good.any():
        scores = predict_scores(
            detector.model,
            frame.loc[good, ["path"]].reset_index(drop=True),
            preprocessing=detector.preprocessing,
            batch_size=batch_size,
        )
        frame.loc[good, "fake_probability"] = scores
        frame.loc[good, "prediction"] = ["fake" if s >= detector.threshold else "real" for s in scores]
    for error in frame["error"].dropna():
        logger.warning("not scored: %s", error)
    frame["model_version"] = f"{model_name}/{version.version}"
    return frame.loc[:, list(PREDICTION_COLUMNS)]
