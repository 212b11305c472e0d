"""ZenML stacks registered idempotently through ZenML's Python ``Client``, and the local stack.

``facetransfer-local``: the default local orchestrator and artifact store, an MLflow experiment
tracker on the project's MLflow store (``facetransfer.tracking.store``) and an MLflow model
registry, so the ZenML steps, the ``facetransfer`` CLI and ``mlflow ui`` see the same runs. The team
stacks (``facetransfer.project.team_stack``) are built with the same helpers. On a local store,
``answer_dashboard_survey`` lets ZenML's dashboard open on the runs instead of its account survey.

Every function creates what is missing, updates what differs and reports one line per change,
so a second run reports nothing. ZenML is imported inside the functions only.
"""

from __future__ import annotations

import logging
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zenml.client import Client

logger = logging.getLogger(__name__)

STACK_NAME = "facetransfer-local"
TRACKER_NAME = "facetransfer-mlflow"
REGISTRY_NAME = "facetransfer-mlflow-registry"


class StackSetupError(RuntimeError):
    """A stack cannot be registered or is invalid (the message says which part and why)."""


@dataclass(frozen=True)
class Component:
    """A stack component as the project wants it."""

    type: str  # a ``StackComponentType`` value: orchestrator, artifact_store, ...
    name: str
    flavor: str
    configuration: dict[str, Any] = field(default_factory=dict)


def executable(name: str) -> str:
    """The ``name`` CLI (zenml, dvc, mlflow) of this environment: next to the running Python, else on PATH."""
    beside_python = Path(sys.executable).with_name(name)
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise StackSetupError(f"the `{name}` command is not installed in this environment")
    return found


def open_client(root: Path, actions: list[str]) -> Client:
    """ZenML's client on the repository in ``root`` (initialised if missing)."""
    from zenml.client import Client

    if not Client.is_repository_directory(root):
        Client.initialize(root)
        actions.append(f"initialised the ZenML repository in {root}")
    client = Client()
    client.activate_root(root)
    return client


def ensure_component(client: Client, wanted: Component) -> str | None:
    """Register ``wanted``, or update the keys of its configuration that differ.

    Keys set to ``None`` in ``wanted.configuration`` are removed from a registered component.

    Returns:
        What was done, or ``None`` when the component was already as wanted.
    """
    from zenml.enums import StackComponentType

    component_type = StackComponentType(wanted.type)
    settable = {key: value for key, value in wanted.configuration.items() if value is not None}
    try:
        existing = client.get_stack_component(component_type, wanted.name, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack_component(wanted.name, wanted.flavor, component_type, settable)
        return f"registered {wanted.type} {wanted.name} ({wanted.flavor})"
    if existing.flavor_name != wanted.flavor:
        raise StackSetupError(
            f"{wanted.type} {wanted.name} is registered with flavor {existing.flavor_name}, not "
            f"{wanted.flavor}; remove it (zenml {wanted.type.replace('_', '-')} delete {wanted.name}) "
            "or rename it, then run the set-up again"
        )
    current = existing.configuration
    if all(current.get(key) == value for key, value in wanted.configuration.items()):
        return None
    client.update_stack_component(wanted.name, component_type, configuration=dict(wanted.configuration))
    return f"updated {wanted.type} {wanted.name}"


def ensure_secret(client: Client, name: str, values: dict[str, str]) -> str | None:
    """Create the ZenML secret ``name`` with ``values``, or make its values equal to them."""
    try:
        existing = client.get_secret(name, allow_partial_name_match=False)
    except KeyError:
        client.create_secret(name, values=values)
        return f"stored ZenML secret {name} ({', '.join(sorted(values))})"
    current = existing.secret_values
    if current == values:
        return None
    client.update_secret(
        name, add_or_update_values=values, remove_values=[key for key in current if key not in values] or None
    )
    return f"updated ZenML secret {name}"


def ensure_stack_components(client: Client, name: str, components: dict[str, str]) -> str | None:
    """Register stack ``name`` of ``components`` (type value -> component name), or re-point it."""
    from zenml.enums import StackComponentType

    wanted = {StackComponentType(kind): component for kind, component in components.items()}
    try:
        stack = client.get_stack(name, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack(name, components=wanted)
        return f"registered stack {name}"
    current = {kind: [c.name for c in listed] for kind, listed in stack.components.items()}
    if all(current.get(kind) == [component] for kind, component in wanted.items()):
        return None
    client.update_stack(name, component_updates=wanted)
    return f"updated stack {name}"


def activate(client: Client, name: str) -> str | None:
    """Make stack ``name`` the active stack of the repository."""
    if client.active_stack_model.name == name:
        return None
    client.activate_stack(name)
    return f"activated stack {name}"


def validate_stack(client: Client, name: str) -> str | None:
    """Check that the stack's components fit together, as ZenML does before a run (no cluster needed).

    Returns:
        ``None`` when valid; a note when the check could not run here because an integration's
        package is missing (the stack is registered, but cannot run from this environment).

    Raises:
        StackSetupError: the stack is invalid (ZenML's reason in the message).
    """
    from zenml.exceptions import StackValidationError
    from zenml.stack import Stack, StackComponent

    model = client.get_stack(name, allow_name_prefix_match=False)
    try:
        # Built from the component models, not Stack.from_model: its cache is keyed by the stack's
        # update time, which does not change when only a component's configuration did.
        components = {
            kind: [StackComponent.from_model(c) for c in listed] for kind, listed in model.components.items()
        }
        Stack.from_components_v2(id=model.id, name=model.name, components=components).validate(
            fail_if_secrets_missing=True
        )
    except ImportError as error:
        first_line = str(error).strip().splitlines()[0]
        return f"stack {name} registered but not validated here: {first_line}"
    except (StackValidationError, RuntimeError, ValueError) as error:
        raise StackSetupError(f"stack {name} is not valid: {error}") from error
    return None


def answer_dashboard_survey(root: Path) -> str | None:
    """Let the local ZenML dashboard open on the page asked for, not on its account survey.

    ZenML's dashboard sends every page to its survey ("Add your account details", news box ticked)
    while the user's ``email_opted_in`` is unset or their metadata lacks
    ``FINISHED_ONBOARDING_SURVEY_KEY``. This records the answer of a person who skips both: no
    email, ``email_opted_in=False`` (ZenML's "skipped"), survey finished. An answer already given
    is kept. Only on a local store or local server: on a shared server each person answers for
    their own account.

    Returns:
        What was done, or ``None`` when nothing was needed.
    """
    from zenml.constants import FINISHED_ONBOARDING_SURVEY_KEY

    client = open_client(root, [])
    if not client.zen_store.is_local_store():
        return None
    user = client.get_user(client.active_user.id)  # fresh: ``active_user`` is cached per process
    metadata = user.user_metadata
    if user.email_opted_in is not None and metadata.get(FINISHED_ONBOARDING_SURVEY_KEY):
        return None
    client.update_user(
        user.id,
        updated_email_opt_in=False if user.email_opted_in is None else None,
        updated_metadata={**metadata, FINISHED_ONBOARDING_SURVEY_KEY: True},
    )
    return f"answered the ZenML dashboard's account survey for user {user.name}: no email, no news"


def ensure_stack(root: Path, tracking_uri: str) -> list[str]:
    """The local stack ``facetransfer-local``, registered, pointing at ``tracking_uri`` and active.

    Returns:
        What was done, one line per action (empty when everything was in place).
    """
    actions: list[str] = []
    client = open_client(root, actions)
    for wanted in (
        Component("experiment_tracker", TRACKER_NAME, "mlflow", {"tracking_uri": tracking_uri}),
        Component("model_registry", REGISTRY_NAME, "mlflow"),
    ):
        actions.append(ensure_component(client, wanted) or "")
    actions.append(
        ensure_stack_components(
            client,
            STACK_NAME,
            {
                "orchestrator": "default",
                "artifact_store": "default",
                "experiment_tracker": TRACKER_NAME,
                "model_registry": REGISTRY_NAME,
            },
        )
        or ""
    )
    actions.append(validate_stack(client, STACK_NAME) or "")
    actions.append(activate(client, STACK_NAME) or "")
    return [action for action in actions if action]
