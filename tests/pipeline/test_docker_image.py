"""The training image of docker/Dockerfile builds and holds the project with its team-stack extras.

Needs a Docker daemon (and the package index for the image's pip install); skipped, with the
reason, where there is none: the build machine has only the ``docker`` client.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TAG = "facetransfer-train:test"


def docker_daemon_problem() -> str | None:
    """Why images cannot be built here, or ``None`` when a daemon answers."""
    if shutil.which("docker") is None:
        return "no `docker` command"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        lines = (info.stderr or info.stdout).strip().splitlines()
        return f"no Docker daemon (`docker info`: {lines[-1] if lines else info.returncode})"
    return None


def test_training_image_builds_and_imports_the_stack() -> None:
    problem = docker_daemon_problem()
    if problem:
        pytest.skip(f"cannot build docker/Dockerfile: {problem}")
    build = subprocess.run(
        ["docker", "build", "-f", "docker/Dockerfile", "-t", TAG, "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    probe = "import facetransfer, kubernetes, mlflow, s3fs, torch, zenml\n"
    probe += "print(zenml.__version__, mlflow.__version__)"
    result = subprocess.run(
        ["docker", "run", "--rm", TAG, "python", "-c", probe],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.split() == ["0.98.0", "3.17.2"]
