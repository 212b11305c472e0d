"""The local ZenML stack of the project, registered idempotently through the ``zenml`` CLI.

Stack ``facetransfer-local``: the default local orchestrator and artifact store, an MLflow
experiment tracker and an MLflow model registry. The tracker points at the project's MLflow store
(``facetransfer.tracking.store``), so the ZenML steps, the ``facetransfer`` CLI and ``mlflow ui``
all see the same runs and registry.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

STACK_NAME = "facetransfer-local"
TRACKER_NAME = "facetransfer-mlflow"
REGISTRY_NAME = "facetransfer-mlflow-registry"


class StackSetupError(RuntimeError):
    """A ``zenml`` command of the set-up failed (the message holds its output)."""


def executable(name: str) -> str:
    """The ``name`` CLI (zenml, dvc, mlflow) of this environment: next to the running Python, else on PATH."""
    beside_python = Path(sys.executable).with_name(name)
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise StackSetupError(f"the `{name}` command is not installed in this environment")
    return found


def run_zenml(*args: str, root: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one ``zenml`` CLI command in ``root``."""
    result = subprocess.run(
        [executable("zenml"), *args], cwd=root, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise StackSetupError(
            f"`zenml {' '.join(args)}` failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return result


def ensure_stack(root: Path, tracking_uri: str) -> list[str]:
    """Create what is missing of the ZenML repository and stack, and activate the stack.

    Running it again changes nothing (it re-points the tracker at ``tracking_uri`` and re-activates
    the stack, both no-ops when already so).

    Returns:
        What was done, one line per action (empty when everything was in place).
    """
    actions = []
    if not (root / ".zen").is_dir():
        run_zenml("init", root=root)
        actions.append(f"initialised the ZenML repository in {root}")
    described = run_zenml("stack", "describe", STACK_NAME, root=root, check=False)
    if described.returncode != 0:
        tracker = run_zenml("experiment-tracker", "describe", TRACKER_NAME, root=root, check=False)
        if tracker.returncode != 0:
            run_zenml(
                "experiment-tracker",
                "register",
                TRACKER_NAME,
                "--flavor=mlflow",
                f"--tracking_uri={tracking_uri}",
                root=root,
            )
            actions.append(f"registered experiment tracker {TRACKER_NAME} -> {tracking_uri}")
        registry = run_zenml("model-registry", "describe", REGISTRY_NAME, root=root, check=False)
        if registry.returncode != 0:
            run_zenml("model-registry", "register", REGISTRY_NAME, "--flavor=mlflow", root=root)
            actions.append(f"registered model registry {REGISTRY_NAME}")
        run_zenml(
            "stack",
            "register",
            STACK_NAME,
            "-o",
            "default",
            "-a",
            "default",
            "-e",
            TRACKER_NAME,
            "-r",
            REGISTRY_NAME,
            root=root,
        )
        actions.append(f"registered stack {STACK_NAME}")
    else:
        # Idempotent: keeps the tracker on this checkout's store if the project moved.
        run_zenml("experiment-tracker", "update", TRACKER_NAME, f"--tracking_uri={tracking_uri}", root=root)
    run_zenml("stack", "set", STACK_NAME, root=root)
    return actions
