"""A registered detector version loaded for scoring, with its threshold and input settings."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from facetransfer.evaluation.calibration import TemperatureScaledDetector
from facetransfer.inputs.preprocessing import Preprocessing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredDetector:
    """A registered detector version, loaded with the settings it was evaluated with.

    ``model``'s sigmoid is the probability the version serves: with a calibration temperature
    other than 1 it is the detector wrapped in ``TemperatureScaledDetector``, so ``threshold``
    (on the calibrated scale) decides its scores as the serving model decides them.
    """

    model: Any
    version: Any
    threshold: float
    preprocessing: Preprocessing
    temperature: float = 1.0


def version_preprocessing(version: Any) -> Preprocessing:
    """The input settings recorded on a detector version (``preprocessing`` tag).

    Versions registered before the tag existed were trained in resize mode: their
    ``image_size`` and ``backbone`` tags give the same settings.
    """
    tags = version.tags or {}
    if "preprocessing" in tags:
        return Preprocessing.from_dict(json.loads(tags["preprocessing"]))
    return Preprocessing.for_backbone(tags["backbone"], int(tags["image_size"]))


def load_registered_detector(name: str, version: Any) -> RegisteredDetector:
    """Load detector ``version`` of ``name`` with its threshold and input settings.

    Versions are image-taking serving models (``facetransfer.scoring``): the detector is rebuilt
    from safetensors and nothing is unpickled; threshold and preprocessing come from the model's
    own settings (the same values as the version's tags). Versions registered before serving
    models existed are pickled ``mlflow.pytorch`` models: they still load, with a warning, and
    take their threshold and preprocessing from the version's tags.
    """
    import mlflow

    uri = f"models:/{name}/{version.version}"
    tags = version.tags or {}
    if "pytorch" in mlflow.models.get_model_info(uri).flavors:
        logger.warning("%s is a pickled mlflow.pytorch model (registered before serving models)", uri)
        return RegisteredDetector(
            model=mlflow.pytorch.load_model(uri, map_location="cpu"),
            version=version,
            threshold=float(tags["threshold"]),
            preprocessing=version_preprocessing(version),
        )
    served = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    temperature = served.settings.temperature
    detector = served.scorer.detector
    return RegisteredDetector(
        model=detector if temperature == 1.0 else TemperatureScaledDetector(detector, temperature),
        version=version,
        threshold=served.settings.threshold,
        preprocessing=served.settings.preprocessing,
        temperature=temperature,
    )
