"""Pinned requirements of logged models, read from the running environment."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import metadata

logger = logging.getLogger(__name__)

RUNTIME_PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "pillow",
    "opencv-python-headless",
    "albumentations",
    "pandas",
    "scikit-learn",
)
"""What a logged model needs to load and run; pinned to the versions of the training process.

Passing them explicitly avoids MLflow's requirement inference (15-20 s per model)."""


def pinned_requirements(extra: Iterable[str] = ()) -> list[str]:
    """``package==version`` of ``RUNTIME_PACKAGES`` and ``extra``, as installed here."""
    requirements = []
    for package in (*RUNTIME_PACKAGES, *extra):
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            logger.warning("package %s is not installed; logged models will not pin it", package)
            continue
        # Local build tags (e.g. +cu130) are not installable from a registry.
        requirements.append(f"{package}=={version.split('+')[0]}")
    return requirements
