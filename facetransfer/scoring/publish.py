"""Logging the serving model: the detector, its face parser and its settings as one MLflow model."""

from __future__ import annotations

import base64
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from facetransfer.scoring.pyfunc import (
    DETECTOR_ARTIFACT,
    SEGMENTER_ARTIFACT,
    SETTINGS_ARTIFACT,
    SETTINGS_FILE,
    ServingSettings,
)

logger = logging.getLogger(__name__)

MODEL_CODE_FILE = Path(__file__).with_name("model_code.py")
SERVING_MODEL_NAME = "serving_model"
SERVING_PACKAGES = ("safetensors", "captum", "mlflow", "pyyaml")
"""Needed at serving time besides the training runtime (``tracking.models.RUNTIME_PACKAGES``)."""


def serving_signature() -> Any:
    """Input: exactly one of ``path`` (string) or ``image`` (bytes, or base64 text).

    ``image`` is declared ``string``, not ``binary``: MLflow's scoring server decodes the base64
    of a binary column itself, before the model sees the request, and answers 400 for the whole
    request when one cell is not base64. As text, each cell reaches the model, which decodes it
    and gives a bad one its own error row. Bytes (the Python API) pass a string column unchanged.
    Both columns are optional in the schema; the model refuses a request with neither or both.
    Params: ``explain`` (boolean, default false). Output: the score columns.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("string", "path", required=False), ColSpec("string", "image", required=False)])
    outputs = Schema(
        [
            ColSpec("long", "input_index"),
            ColSpec("long", "face_index", required=False),
            ColSpec("boolean", "face_found"),
            ColSpec("string", "box", required=False),
            ColSpec("string", "landmarks", required=False),
            ColSpec("double", "detector_confidence", required=False),
            ColSpec("double", "fake_probability"),
            ColSpec("string", "prediction", required=False),
            ColSpec("double", "threshold"),
            ColSpec("string", "model_version"),
            ColSpec("string", "error", required=False),
            ColSpec("double", "image_fake_probability", required=False),
            ColSpec("string", "image_prediction", required=False),
            ColSpec("long", "frames", required=False),
            ColSpec("string", "track_scores", required=False),
            ColSpec("string", "regions", required=False),
            ColSpec("string", "explanation_png", required=False),
        ]
    )
    return ModelSignature(
        inputs=inputs,
        outputs=outputs,
        params=ParamSchema([ParamSpec("explain", "boolean", False), ParamSpec("faces", "string", "auto")]),
    )


def example_image_bytes(size: int = 64) -> bytes:
    """A small deterministic PNG (the logged input example)."""
    from PIL import Image

    gradient = np.linspace(0, 255, size, dtype=np.uint8)
    pixels = np.stack(np.broadcast_arrays(gradient[None, :], gradient[:, None], 128), axis=2)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def serving_requirements() -> list[str]:
    """Pinned requirements of the serving model, read from the running environment."""
    from facetransfer.tracking.models import pinned_requirements

    return pinned_requirements(SERVING_PACKAGES)


def log_serving_model(
    *,
    detector_folder: str | Path,
    segmenter_folder: str | Path | None,
    settings: ServingSettings,
    name: str = SERVING_MODEL_NAME,
) -> Any:
    """Log the serving model into the active MLflow run (models-from-code; no pickle written).

    Args:
        detector_folder: the detector's weights folder (``facetransfer.models.weights``).
        segmenter_folder: the face parser's weights folder, or ``None`` (then no explanations).
        settings: threshold, preprocessing, names and versions.
        name: the logged model's name.

    Returns:
        MLflow's ``ModelInfo`` (its ``model_uri`` is what the registry registers).
    """
    import mlflow
    import pandas as pd

    import facetransfer

    with tempfile.TemporaryDirectory() as tmp:
        settings_path = Path(tmp) / SETTINGS_FILE
        settings_path.write_text(json.dumps(settings.to_dict(), indent=2), encoding="utf-8")
        artifacts = {SETTINGS_ARTIFACT: str(settings_path), DETECTOR_ARTIFACT: str(detector_folder)}
        if segmenter_folder is not None:
            artifacts[SEGMENTER_ARTIFACT] = str(segmenter_folder)
        example = pd.DataFrame({"image": [base64.b64encode(example_image_bytes()).decode("ascii")]})
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE_FILE),
            artifacts=artifacts,
            code_paths=[str(Path(facetransfer.__file__).parent)],
            signature=serving_signature(),
            input_example=example,
            pip_requirements=serving_requirements(),
        )
