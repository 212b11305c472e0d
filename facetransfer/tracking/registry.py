"""The MLflow model registry: idempotent registration, aliases and version tags."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from facetransfer.data.preprocessing import Preprocessing

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
SEGMENTER_MODEL = "face-segmenter"
DETECTOR_MODEL = "deepfake-detector"


def register_run_model(
    client: Any,
    *,
    name: str,
    run_id: str,
    artifact_path: str = "model",
    model_uri: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Any:
    """Register the model logged by ``run_id`` as a version of ``name``, once.

    If a version of ``name`` already comes from ``run_id`` (a rerun that reused a cached
    training step), that version is returned instead of registering a duplicate.
    """
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    existing = run_version(client, name, run_id)
    if existing is not None:
        logger.info("%s version %s already holds the model of run %s", name, existing.version, run_id)
        return existing
    source = model_uri or f"runs:/{run_id}/{artifact_path}"
    version = client.create_model_version(
        name=name,
        source=source,
        run_id=run_id,
        tags={k: _tag_value(v) for k, v in (tags or {}).items()},
        description=description,
    )
    logger.info("registered %s version %s from run %s", name, version.version, run_id)
    return version


def run_version(client: Any, name: str, run_id: str) -> Any | None:
    """The version of ``name`` registered from ``run_id``, or ``None``."""
    for version in client.search_model_versions(f"name='{name}'"):
        if version.run_id == run_id:
            return version
    return None


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The version of ``name`` holding ``alias``, or ``None`` if the model or alias is missing."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


@dataclass(frozen=True)
class RegisteredDetector:
    """A registered detector version, loaded with the settings it was evaluated with."""

    model: Any
    version: Any
    threshold: float
    preprocessing: Preprocessing

    @property
    def backbone(self) -> str:
        return str((self.version.tags or {}).get("backbone", ""))


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

    Versions are image-taking serving models (``facetransfer.serving``): the detector is rebuilt
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
    return RegisteredDetector(
        model=served.scorer.detector,
        version=version,
        threshold=served.settings.threshold,
        preprocessing=served.settings.preprocessing,
    )


def set_version_tags(client: Any, name: str, version: str, tags: Mapping[str, Any]) -> None:
    """Set several tags on one model version (lists and dicts stored as JSON)."""
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, _tag_value(value))


def json_tag(version: Any, key: str, default: Any) -> Any:
    """Read a JSON-encoded tag of a model version, or ``default`` if missing."""
    raw = (version.tags or {}).get(key)
    return default if raw is None else json.loads(raw)


def _tag_value(value: Any) -> str:
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
