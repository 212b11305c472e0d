"""ZenML stacks registered by ``facetransfer setup``, in a throwaway ZenML store (no cluster, no servers).

The stacks are registered through ZenML's real Python client into a store under ``tmp_path``
(``ZENML_CONFIG_PATH``), read back, and validated by ZenML itself, the check ZenML runs before a
pipeline is submitted. The Kubernetes context lives in a kubeconfig under ``tmp_path``: ZenML's
validation reads contexts from it and never contacts the cluster.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facetransfer.project.stack import (
    REGISTRY_NAME,
    STACK_NAME,
    TRACKER_NAME,
    Component,
    StackSetupError,
    ensure_component,
    ensure_stack,
)
from facetransfer.project.team import TeamSettings
from facetransfer.project.team_stack import (
    ARTIFACT_STORE_NAME,
    CONTAINER_REGISTRY_NAME,
    TEAM_TRACKER_NAME,
    ensure_team_stack,
)

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: team-cluster
  cluster: {server: "https://kubernetes.invalid:6443"}
users:
- name: team-user
  user: {}
contexts:
- name: team-cluster
  context: {cluster: team-cluster, user: team-user}
current-context: team-cluster
"""
CHANGES = ("registered", "updated", "stored", "activated")


def team(**orchestrator: Any) -> TeamSettings:
    return TeamSettings.model_validate(
        {
            "mlflow": {"tracking_uri": "http://mlflow.invalid:5000"},
            "s3": {"bucket": "facetransfer", "endpoint_url": "http://s3.invalid:9000"},
            "orchestrator": orchestrator,
        }
    )


def changes(actions: list[str]) -> list[str]:
    return [action for action in actions if action.startswith(CHANGES)]


@pytest.fixture(scope="module")
def zenml_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ZenML repository in a temporary folder, with its own global store; ZenML reset afterwards."""
    base = tmp_path_factory.mktemp("zenml")
    (base / "kubeconfig").write_text(KUBECONFIG)
    saved = {name: os.environ.get(name) for name in ("ZENML_CONFIG_PATH", "KUBECONFIG")}
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level  # ZenML adds its own on import
    os.environ.update({"ZENML_CONFIG_PATH": str(base / "config"), "KUBECONFIG": str(base / "kubeconfig")})
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration

    GlobalConfiguration._reset_instance()
    Client._reset_instance()
    (base / "project").mkdir()
    try:
        yield base / "project"
    finally:
        GlobalConfiguration._reset_instance()
        Client._reset_instance()
        root_logger.handlers[:] = handlers
        root_logger.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def component(kind: str, name: str) -> Any:
    from zenml.client import Client
    from zenml.enums import StackComponentType

    return Client().get_stack_component(StackComponentType(kind), name, allow_name_prefix_match=False)


def test_local_stack_is_registered_once_and_follows_the_store(zenml_client: Path, tmp_path: Path) -> None:
    from zenml.client import Client

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = ensure_stack(zenml_client, uri)
    assert f"registered stack {STACK_NAME}" in first
    assert Client().active_stack_model.name == STACK_NAME
    assert component("experiment_tracker", TRACKER_NAME).configuration["tracking_uri"] == uri
    assert changes(ensure_stack(zenml_client, uri)) == [], "a second set-up changes nothing"

    moved = f"sqlite:///{tmp_path / 'moved.db'}"
    assert changes(ensure_stack(zenml_client, moved)) == [f"updated experiment_tracker {TRACKER_NAME}"]
    assert component("experiment_tracker", TRACKER_NAME).configuration["tracking_uri"] == moved


def test_kubernetes_stack_has_every_component_configured_and_validates(
    zenml_client: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zenml.client import Client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "team-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "team-secret")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "alice-password")
    settings = team(
        flavor="kubernetes",
        kubernetes_context="team-cluster",
        namespace="faces",
        container_registry="registry.example.com/facetransfer",
    )
    settings = settings.model_copy(
        update={"s3": settings.s3.model_copy(update={"credentials_secret": "facetransfer-s3"})}
    )
    name, actions = ensure_team_stack(zenml_client, settings)

    assert name == "facetransfer-kubernetes"
    assert Client().active_stack_model.name == name
    stack = Client().get_stack(name)
    assert {kind.value: [c.name for c in listed] for kind, listed in stack.components.items()} == {
        "orchestrator": ["facetransfer-kubernetes"],
        "artifact_store": [ARTIFACT_STORE_NAME],
        "experiment_tracker": [TEAM_TRACKER_NAME],
        "model_registry": [REGISTRY_NAME],
        "container_registry": [CONTAINER_REGISTRY_NAME],
        "image_builder": ["facetransfer-local-builder"],
    }
    orchestrator = component("orchestrator", "facetransfer-kubernetes")
    assert orchestrator.flavor_name == "kubernetes"
    assert orchestrator.configuration["kubernetes_context"] == "team-cluster"
    assert orchestrator.configuration["kubernetes_namespace"] == "faces"
    store = component("artifact_store", ARTIFACT_STORE_NAME).configuration
    assert store["path"] == "s3://facetransfer/zenml"
    assert store["client_kwargs"] == {"endpoint_url": "http://s3.invalid:9000"}
    assert store["authentication_secret"] == "facetransfer-s3"
    tracker = component("experiment_tracker", TEAM_TRACKER_NAME).configuration
    assert tracker["tracking_uri"] == "http://mlflow.invalid:5000"
    assert tracker["tracking_username"] == "{{facetransfer-mlflow.username}}", "a reference, not the value"
    assert component("container_registry", CONTAINER_REGISTRY_NAME).configuration["uri"] == (
        "registry.example.com/facetransfer"
    )
    assert Client().get_secret("facetransfer-mlflow").secret_values == {
        "username": "alice",
        "password": "alice-password",
    }
    assert Client().get_secret("facetransfer-s3").secret_values["aws_access_key_id"] == "team-key"
    assert any("ZenML server" in action for action in actions), "a local store cannot serve pods: said so"

    again = ensure_team_stack(zenml_client, settings)[1]
    assert changes(again) == [], "a second set-up changes nothing"


def test_a_context_missing_from_the_kubeconfig_is_refused_and_not_activated(zenml_client: Path) -> None:
    from zenml.client import Client

    active = Client().active_stack_model.name
    settings = team(
        flavor="kubernetes",
        kubernetes_context="no-such-cluster",
        container_registry="registry.example.com/facetransfer",
    )
    with pytest.raises(StackSetupError, match="no-such-cluster"):
        ensure_team_stack(zenml_client, settings)
    assert Client().active_stack_model.name == active


def test_kubeflow_stack_is_registered_and_says_why_it_is_not_validated(zenml_client: Path) -> None:
    settings = team(
        flavor="kubeflow",
        kubernetes_context="team-cluster",
        namespace="faces",
        container_registry="registry.example.com/facetransfer",
    )
    name, actions = ensure_team_stack(zenml_client, settings)

    assert name == "facetransfer-kubeflow"
    orchestrator = component("orchestrator", "facetransfer-kubeflow")
    assert orchestrator.flavor_name == "kubeflow"
    assert orchestrator.configuration["kubernetes_context"] == "team-cluster"
    assert orchestrator.configuration["user_namespace"] == "faces"
    # kfp (the Kubeflow integration's requirement) does not co-install with the pinned stack
    assert any("not validated here" in action and "kfp" in action for action in actions), actions


def test_switching_to_kaniko_re_points_the_stack_at_a_kaniko_builder(zenml_client: Path) -> None:
    from zenml.client import Client
    from zenml.enums import StackComponentType

    settings = team(
        flavor="kubernetes",
        kubernetes_context="team-cluster",
        namespace="faces",
        container_registry="registry.example.com/facetransfer",
        image_builder="kaniko",
    )
    actions = changes(ensure_team_stack(zenml_client, settings)[1])
    assert {
        "registered image_builder facetransfer-kaniko-builder (kaniko)",
        "updated stack facetransfer-kubernetes",
    } <= set(actions)
    assert Client().active_stack_model.name == "facetransfer-kubernetes"
    builders = Client().get_stack("facetransfer-kubernetes").components[StackComponentType.IMAGE_BUILDER]
    assert [builder.name for builder in builders] == ["facetransfer-kaniko-builder"]
    kaniko = component("image_builder", "facetransfer-kaniko-builder").configuration
    assert (kaniko["kubernetes_context"], kaniko["kubernetes_namespace"]) == ("team-cluster", "faces")


def test_a_component_of_another_flavor_is_not_silently_replaced(zenml_client: Path) -> None:
    from zenml.client import Client
    from zenml.enums import StackComponentType

    Client().create_stack_component("someone-elses-builder", "local", StackComponentType.IMAGE_BUILDER, {})
    wanted = Component("image_builder", "someone-elses-builder", "kaniko", {"kubernetes_context": "c"})
    with pytest.raises(StackSetupError, match="flavor local, not kaniko"):
        ensure_component(Client(), wanted)
