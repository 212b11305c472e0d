"""The MLflow model registry: idempotent registration, aliases and version tags.

"Not there" and "cannot tell" are different answers. A missing model or alias is ``None``;
a registry that cannot be reached (or answers with any other error) raises
``RegistryUnavailableError`` naming its URI, so that no caller mistakes an outage for "no
champion yet". How long an unreachable server is retried is bounded by MLflow's
``MLFLOW_HTTP_REQUEST_*`` variables, which the project's entry points default to seconds
(``facetransfer.environment.MLFLOW_HTTP_DEFAULTS``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
SEGMENTER_MODEL = "face-segmenter"
DETECTOR_MODEL = "deepfake-detector"


class RegistryUnavailableError(RuntimeError):
    """The model registry could not be reached or did not answer; nothing can be concluded from it.

    Attributes:
        uri: the registry URI that was asked.
    """

    def __init__(self, uri: str, error: Exception) -> None:
        super().__init__(
            f"model registry at {uri} is unreachable or failed to answer: {error}. Check the server "
            "(MLFLOW_TRACKING_URI) and retry; MLFLOW_HTTP_REQUEST_MAX_RETRIES and "
            "MLFLOW_HTTP_REQUEST_TIMEOUT bound how long each request is retried"
        )
        self.uri = uri


_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST"}


def _is_not_found(error: Exception) -> bool:
    """Whether an MLflow error means "no such model / alias" rather than "no answer"."""
    code = getattr(error, "error_code", "")
    if code in _NOT_FOUND:
        return True
    # The SQL store reports a missing alias as an invalid parameter ("alias ... not found").
    return code == "INVALID_PARAMETER_VALUE" and "not found" in str(getattr(error, "message", error))


def registry_uri(client: Any) -> str:
    """The registry URI a ``MlflowClient`` talks to (for messages)."""
    return str(getattr(client, "_registry_uri", None) or getattr(client, "tracking_uri", "") or "?")


@contextlib.contextmanager
def registry_errors(client: Any) -> Iterator[None]:
    """Turn MLflow errors other than "not found" into ``RegistryUnavailableError`` naming the URI."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as error:
        if _is_not_found(error):
            raise
        raise RegistryUnavailableError(registry_uri(client), error) from error


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

    with registry_errors(client):
        try:
            client.get_registered_model(name)
        except MlflowException as error:
            if not _is_not_found(error):
                raise
            client.create_registered_model(name)
        existing = run_version(client, name, run_id)
    if existing is not None:
        logger.info("%s version %s already holds the model of run %s", name, existing.version, run_id)
        return existing
    source = model_uri or f"runs:/{run_id}/{artifact_path}"
    # An MLflow server requires a logged model's id with its models:/<id> source (a local store does not).
    model_id = source.removeprefix("models:/") if source.startswith("models:/m-") else None
    with registry_errors(client):
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


def run_version(client: Any, name: str, run_id: str) -> Any | None:
    """The version of ``name`` registered from ``run_id``, or ``None``.

    Raises:
        RegistryUnavailableError: the registry did not answer.
    """
    with registry_errors(client):
        versions = client.search_model_versions(f"name='{name}'")
    return next((version for version in versions if version.run_id == run_id), None)


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The version of ``name`` holding ``alias``, or ``None`` if the model or alias is missing.

    Raises:
        RegistryUnavailableError: the registry did not answer (an outage is not "no model").
    """
    from mlflow.exceptions import MlflowException

    try:
        with registry_errors(client):
            return client.get_model_version_by_alias(name, alias)
    except MlflowException:  # registry_errors lets through only "not found"
        return None


def champion_version(model_name: str) -> Any | None:
    """The registry version holding the ``champion`` alias, or ``None`` when there is none.

    Raises:
        RegistryUnavailableError: the registry cannot be reached (never read as "no champion").
    """
    from mlflow.tracking import MlflowClient

    return alias_version(MlflowClient(), model_name, CHAMPION)


def new_generators(manifest: pd.DataFrame, version: Any | None) -> list[str]:
    """Generators in ``manifest`` that the champion ``version`` was not trained on (all if none)."""
    present = set(manifest["generator"].dropna().astype(str))
    trained = set(json_tag(version, "generators_trained", [])) if version is not None else set()
    return sorted(present - trained)


def set_version_tags(client: Any, name: str, version: str, tags: Mapping[str, Any]) -> None:
    """Set several tags on one model version (lists and dicts stored as JSON)."""
    with registry_errors(client):
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
