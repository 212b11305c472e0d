"""The MLflow model registry: idempotent registration, aliases and version tags."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    for version in client.search_model_versions(f"name='{name}'"):
        if version.run_id == run_id:
            logger.info("%s version %s already holds the model of run %s", name, version.version, run_id)
            return version
    source = model_uri or f"runs:/{run_id}/{artifact_path}"
    # An MLflow server requires a logged model's id with its models:/<id> source (a local store does not).
    model_id = source.removeprefix("models:/") if source.startswith("models:/m-") else None
    version = client.create_model_version(
        name=name,
        source=source,
        run_id=run_id,
        model_id=model_id,
        tags={k: _tag_value(v) for k, v in (tags or {}).items()},
        description=description,
    )
    logger.info("registered %s version %s from run %s", name, version.version, run_id)
    return version


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
    image_size: int
    backbone: str


def load_registered_detector(name: str, version: Any) -> RegisteredDetector:
    """Load detector ``version`` of ``name`` (on the CPU) with its threshold, image size, backbone.

    These three come from the version's tags, set at registration, so scoring with them
    matches the evaluation that promoted the model.
    """
    import mlflow

    tags = version.tags or {}
    return RegisteredDetector(
        model=mlflow.pytorch.load_model(f"models:/{name}/{version.version}", map_location="cpu"),
        version=version,
        threshold=float(tags["threshold"]),
        image_size=int(tags["image_size"]),
        backbone=tags["backbone"],
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
