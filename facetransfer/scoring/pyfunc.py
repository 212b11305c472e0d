"""The registered detector as an MLflow ``python_function`` model that takes images.

The model is logged with MLflow's models-from-code (``model_code.py`` is the ``python_model``), so
loading it imports code and reads files, and unpickles nothing: the detector's and the face
parser's weights are safetensors folders (``facetransfer.models.weights``), the settings are
JSON, and the ``facetransfer`` package travels in the model's ``code_paths``.

Artifacts of a serving model:

* ``settings``: ``serving.json`` - registered model name, decision threshold, temperature,
  preprocessing, the face-parser version and the run the detector was trained in;
* ``detector``: the detector's weights folder;
* ``segmenter``: the face parser's weights folder (the ``face-segmenter`` version the detector was
  registered with), used by explanations.

The model learns its own registry version from the ``registered_model_meta`` file that MLflow
writes beside a model it downloads through a ``models:/`` URI; loaded from a run, it reports
``<model name>/run-<run id>``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from mlflow.pyfunc import PythonModel

from facetransfer.faces.face_settings import FaceSettings
from facetransfer.inputs.preprocessing import Preprocessing

logger = logging.getLogger(__name__)

SETTINGS_ARTIFACT = "settings"
DETECTOR_ARTIFACT = "detector"
SEGMENTER_ARTIFACT = "segmenter"
SETTINGS_FILE = "serving.json"
SETTINGS_FORMAT = 2
"""2 added ``temperature``: an older reader refuses it rather than serve raw probabilities against a
calibrated threshold. Format 1 files (no temperature) are read with temperature 1, as logged."""
READABLE_FORMATS = (1, 2)
REGISTERED_MODEL_META = "registered_model_meta"
"""File MLflow writes into a model folder downloaded through ``models:/<name>/<version>``."""


@dataclass(frozen=True)
class ServingSettings:
    """What decides a serving model's answers besides its weights.

    Attributes:
        model_name: registered model name (``deepfake-detector``).
        threshold: decision threshold (an image is fake when its probability is at least this), on
            the calibrated scale.
        preprocessing: the detector's input settings, as in training and evaluation.
        segmenter_version: the ``face-segmenter`` version whose weights came along (or ``None``).
        run_id: the MLflow run that trained the detector.
        faces: the face geometry of the training crops, used to cut faces out of whole pictures
            (FFHQ-style framing unless ingestion aligned the training images with other settings).
        temperature: the temperature fitted on the validation split: served fake probabilities are
            ``sigmoid(logit / temperature)`` (``facetransfer.evaluation.calibration``); 1 serves the
            raw sigmoid, as every version logged before calibration existed.
    """

    model_name: str
    threshold: float
    preprocessing: Preprocessing
    segmenter_version: str | None = None
    run_id: str | None = None
    faces: FaceSettings = field(default_factory=FaceSettings)
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(
                f"serving settings: temperature must be a positive number; got {self.temperature!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``serving.json``)."""
        return {
            "format": SETTINGS_FORMAT,
            "model_name": self.model_name,
            "threshold": float(self.threshold),
            "preprocessing": self.preprocessing.to_dict(),
            "segmenter_version": self.segmenter_version,
            "run_id": self.run_id,
            "faces": self.faces.model_dump(mode="json"),
            "temperature": float(self.temperature),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ServingSettings:
        """Inverse of ``to_dict``; a newer format is refused rather than misread."""
        if values.get("format") not in READABLE_FORMATS:
            raise ValueError(
                f"serving settings format {values.get('format')!r} is not one of {READABLE_FORMATS}: "
                "load this model with the facetransfer version it was logged with"
            )
        return cls(
            model_name=str(values["model_name"]),
            threshold=float(values["threshold"]),
            preprocessing=Preprocessing.from_dict(dict(values["preprocessing"])),
            segmenter_version=values.get("segmenter_version"),
            run_id=values.get("run_id"),
            faces=FaceSettings.model_validate(values.get("faces") or {}),
            temperature=float(values.get("temperature", 1.0)),
        )

    @classmethod
    def read(cls, path: str | Path) -> ServingSettings:
        """Read ``serving.json``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def registered_version(model_root: Path, settings: ServingSettings) -> str:
    """``<name>/<version>`` from MLflow's ``registered_model_meta``, else ``<name>/run-<run id>``."""
    meta = model_root / REGISTERED_MODEL_META
    if meta.is_file():
        values = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        if values.get("model_version") is not None:
            return f"{values.get('model_name', settings.model_name)}/{values['model_version']}"
    return f"{settings.model_name}/run-{settings.run_id or 'unknown'}"


def build_explainer(segmenter_folder: str | Path, detector: Any) -> Any:
    """The region explainer of ``detector`` with the face parser in ``segmenter_folder``."""
    from facetransfer.classes import get_scheme
    from facetransfer.explanation import FaceParser, RegionExplainer
    from facetransfer.models.weights import load_weights, read_architecture

    architecture = read_architecture(segmenter_folder)
    parser = FaceParser(
        segmenter=load_weights(segmenter_folder, kind="segmenter"),
        scheme=get_scheme(str(architecture["scheme"])),
        preprocessing=Preprocessing.for_backbone(
            str(architecture["backbone"]), int(architecture["image_size"])
        ),
    )
    return RegionExplainer(detector, parser)


class ImageDetectorModel(PythonModel):
    """``predict(DataFrame of images) -> DataFrame of scores`` (``facetransfer.scoring.scorer``).

    Params: ``explain`` (bool, default false) adds the region explanation of every face;
    ``faces`` (``auto`` default, ``align``, ``off``) says how whole pictures are cut into faces.
    """

    scorer: Any = None
    settings: ServingSettings | None = None

    def load_context(self, context: Any) -> None:
        """Rebuild the detector (and face parser) from the model's safetensors and settings."""
        import torch

        from facetransfer.evaluation.calibration import TemperatureScaledDetector
        from facetransfer.models.weights import load_weights
        from facetransfer.scoring.scorer import ImageScorer

        settings_path = Path(context.artifacts[SETTINGS_ARTIFACT])
        self.settings = settings = ServingSettings.read(settings_path)
        detector = load_weights(context.artifacts[DETECTOR_ARTIFACT], kind="detector")
        if torch.cuda.is_available():
            detector = detector.to("cuda")
        segmenter = context.artifacts.get(SEGMENTER_ARTIFACT)
        # The explainer applies the sigmoid itself: it explains the served (calibrated) probability.
        explained = (
            detector
            if settings.temperature == 1.0
            else TemperatureScaledDetector(detector, settings.temperature)
        )
        self.scorer = ImageScorer(
            detector=detector,
            preprocessing=settings.preprocessing,
            threshold=settings.threshold,
            model_version=registered_version(settings_path.parent.parent, settings),
            explainer=build_explainer(segmenter, explained) if segmenter else None,
            face_settings=settings.faces,
            temperature=settings.temperature,
        )
        logger.info(
            "loaded %s (threshold %.4f, temperature %.4g)",
            self.scorer.model_version,
            settings.threshold,
            settings.temperature,
        )

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Score the images of ``model_input`` (one of the columns ``path`` or ``image``).

        Under MLflow's scoring server (``mlflow models serve``), missing numbers are returned as
        ``None``, which the server writes as JSON ``null``; a float NaN would be written ``NaN``,
        which is not JSON. The Python API keeps float columns with NaN.

        Raises:
            MlflowException: malformed input (``INVALID_PARAMETER_VALUE``, HTTP 400 when served);
                any other failure is the model's (``INTERNAL_ERROR``, HTTP 500), its cause chained.
        """
        from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

        from facetransfer.scoring.scorer import ScoringInputError

        explain = _flag((params or {}).get("explain", False))
        try:
            scored = self.scorer.score(
                model_input, explain=explain, faces=(params or {}).get("faces") or None
            )
        except ScoringInputError as error:  # the request's fault; a bad image is an error row instead
            raise MlflowException.invalid_parameter_value(str(error)) from error
        except Exception as error:
            # MLflow's server answers 400 for any exception that is not an MlflowException.
            logger.exception("scoring failed")
            raise MlflowException(f"scoring failed: {error}", error_code=INTERNAL_ERROR) from error
        return _json_nulls(scored) if _MLFLOW_IS_IN_SERVING_ENVIRONMENT.get() else scored


def _json_nulls(scored: pd.DataFrame) -> pd.DataFrame:
    """``scored`` with each float column as objects, ``None`` where it held NaN."""
    floats = scored.select_dtypes(include="floating").columns
    return scored.assign(
        **{column: scored[column].astype(object).where(scored[column].notna(), None) for column in floats}
    )


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)
