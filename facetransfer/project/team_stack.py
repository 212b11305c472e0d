"""The team stacks: ``facetransfer-team``, ``facetransfer-kubernetes``, ``facetransfer-kubeflow``.

- ``facetransfer-team``: the local orchestrator, ZenML's ``s3`` artifact store in the team bucket,
  an MLflow tracker on the team server (credentials referenced from a ZenML secret) and the MLflow
  model registry;
- ``facetransfer-kubernetes`` / ``facetransfer-kubeflow``: the same with that orchestrator, a
  container registry and an image builder.

Registered with the helpers of ``facetransfer.project.stack``: idempotent, validated as ZenML
validates before a run, activated only when valid. ZenML is imported inside the functions only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facetransfer.project.stack import (
    REGISTRY_NAME,
    Component,
    StackSetupError,
    activate,
    ensure_component,
    ensure_secret,
    ensure_stack_components,
    open_client,
    validate_stack,
)

if TYPE_CHECKING:
    from zenml.client import Client

    from facetransfer.project.team import OrchestratorSettings, TeamSettings

logger = logging.getLogger(__name__)

TEAM_TRACKER_NAME = "facetransfer-team-mlflow"
ARTIFACT_STORE_NAME = "facetransfer-s3"
CONTAINER_REGISTRY_NAME = "facetransfer-registry"
NO_AUTH_CREDENTIALS = {"username": "facetransfer", "password": "no-auth"}
"""Stored when no MLflow credentials are in the environment: ZenML's tracker demands credentials for
an HTTP server even when the server has no authentication (which then ignores them)."""


def team_stack_name(orchestrator: str) -> str:
    """Name of the team stack with ``orchestrator`` (``local``, ``kubernetes``, ``kubeflow``)."""
    return "facetransfer-team" if orchestrator == "local" else f"facetransfer-{orchestrator}"


def ensure_team_stack(root: Path, settings: TeamSettings) -> tuple[str, list[str]]:
    """The team stack for ``settings`` (its orchestrator decides which), registered, valid and active.

    Returns:
        The stack's name and what was done, one line per action.
    """
    actions: list[str] = []
    client = open_client(root, actions)
    orchestrator = settings.orchestrator
    tracker_credentials = _mlflow_credentials(client, settings.mlflow.credentials_secret, actions)
    components = [
        Component(
            "experiment_tracker",
            TEAM_TRACKER_NAME,
            "mlflow",
            {"tracking_uri": settings.mlflow.tracking_uri, **tracker_credentials},
        ),
        Component("model_registry", REGISTRY_NAME, "mlflow"),
        _artifact_store(client, settings, actions),
        *_cluster_components(orchestrator),
    ]
    for wanted in components:
        actions.append(ensure_component(client, wanted) or "")
    membership = {wanted.type: wanted.name for wanted in components}
    membership.setdefault("orchestrator", "default")
    name = team_stack_name(orchestrator.flavor)
    actions.append(ensure_stack_components(client, name, membership) or "")
    actions.append(validate_stack(client, name) or "")  # an invalid stack never becomes the active one
    actions.append(activate(client, name) or "")
    if orchestrator.flavor != "local" and client.zen_store.is_local_store():
        actions.append(
            f"note: this ZenML store is local; {orchestrator.flavor} pods need a ZenML server "
            "(ZENML_STORE_URL and ZENML_STORE_API_KEY, or `zenml login`) before `zenml pipeline run`"
        )
    return name, [action for action in actions if action]


def _mlflow_credentials(client: Client, secret: str, actions: list[str]) -> dict[str, str | None]:
    """Tracker configuration keys that reference the credentials stored in ZenML secret ``secret``."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    username, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    values: dict[str, str] | None = None
    if token:
        values = {"token": token}
    elif username and password:
        values = {"username": username, "password": password}
    try:
        stored = client.get_secret(secret, allow_partial_name_match=False).secret_values
    except KeyError:
        stored = None
    if values is None and stored is None:
        logger.info("no MLflow credentials in the environment: the server is taken to have no authentication")
        values = dict(NO_AUTH_CREDENTIALS)
    if values is not None:
        actions.append(ensure_secret(client, secret, values) or "")
        stored = values
    if "token" in (stored or {}):
        return {
            "tracking_token": f"{{{{{secret}.token}}}}",
            "tracking_username": None,
            "tracking_password": None,
        }
    return {
        "tracking_username": f"{{{{{secret}.username}}}}",
        "tracking_password": f"{{{{{secret}.password}}}}",
        "tracking_token": None,
    }


def _artifact_store(client: Client, settings: TeamSettings, actions: list[str]) -> Component:
    """ZenML's ``s3`` artifact store at ``s3://<bucket>/<zenml_prefix>``."""
    bucket = settings.s3
    client_kwargs = {
        key: value
        for key, value in (("endpoint_url", bucket.endpoint_url), ("region_name", bucket.region))
        if value
    }
    secret = bucket.credentials_secret
    if secret:
        values = {
            key: os.environ[variable]
            for key, variable in (
                ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
                ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
                ("aws_session_token", "AWS_SESSION_TOKEN"),
            )
            if os.environ.get(variable)
        }
        if {"aws_access_key_id", "aws_secret_access_key"} <= set(values):
            actions.append(ensure_secret(client, secret, values) or "")
        elif not client.list_secrets(name=secret).total:
            raise StackSetupError(
                f"s3.credentials_secret names ZenML secret {secret}, which does not exist; set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY so that set-up can store them in it"
            )
    return Component(
        "artifact_store",
        ARTIFACT_STORE_NAME,
        "s3",
        {
            "path": bucket.url(bucket.zenml_prefix),
            "client_kwargs": client_kwargs or None,
            "authentication_secret": secret,
        },
    )


def _cluster_components(orchestrator: OrchestratorSettings) -> list[Component]:
    """Orchestrator, container registry and image builder of a Kubernetes or Kubeflow stack."""
    if orchestrator.flavor == "local":
        return []
    if orchestrator.flavor == "kubernetes":
        configuration: dict[str, Any] = {
            "kubernetes_context": orchestrator.kubernetes_context,
            "kubernetes_namespace": orchestrator.namespace,
        }
    else:
        configuration = {
            "kubernetes_context": orchestrator.kubernetes_context,
            "kubeflow_hostname": orchestrator.kubeflow_hostname,
            "kubeflow_namespace": orchestrator.kubeflow_namespace,
            "user_namespace": orchestrator.namespace,
        }
    builder_configuration: dict[str, Any] = {}
    if orchestrator.image_builder == "kaniko":
        builder_configuration = {
            "kubernetes_context": orchestrator.kubernetes_context,
            "kubernetes_namespace": orchestrator.namespace,
        }
    return [
        Component("orchestrator", f"facetransfer-{orchestrator.flavor}", orchestrator.flavor, configuration),
        Component(
            "container_registry", CONTAINER_REGISTRY_NAME, "default", {"uri": orchestrator.container_registry}
        ),
        Component(
            "image_builder",
            f"facetransfer-{orchestrator.image_builder}-builder",
            orchestrator.image_builder,
            builder_configuration,
        ),
    ]
