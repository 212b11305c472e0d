"""Logging PyTorch models to MLflow with a signature, an input example and explicit requirements."""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path
from typing import Any

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


def runtime_requirements() -> list[str]:
    """Pinned requirements of a logged model, read from the running environment."""
    requirements = []
    for package in RUNTIME_PACKAGES:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            logger.warning("package %s is not installed; logged models will not pin it", package)
            continue
        # Local build tags (e.g. +cu130) are not installable from a registry.
        requirements.append(f"{package}=={version.split('+')[0]}")
    return requirements


def log_torch_model(model: Any, *, image_size: int, name: str = "model") -> Any:
    """Log ``model`` to the active MLflow run as an ``mlflow.pytorch`` model.

    The model takes normalised ``(N, 3, image_size, image_size)`` float32 tensors. It is saved
    with pickle (not MLflow's default ``pt2`` export, whose traced graph fixes the batch size and
    cannot be switched to eval mode), and the ``facetransfer`` package travels with it
    (``code_paths``) so it loads as the same ``nn.Module`` where the library is not installed.
    Pickles execute code when loaded: load models only from a registry you trust.

    Returns:
        MLflow's ``ModelInfo`` (``model_uri`` is what the registry registers).
    """
    import mlflow
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    import facetransfer

    model = model.to("cpu").eval()
    example = np.zeros((1, 3, image_size, image_size), dtype=np.float32)
    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()
    signature = infer_signature(example, output)
    return mlflow.pytorch.log_model(
        model,
        name=name,
        signature=signature,
        input_example=example,
        pip_requirements=runtime_requirements(),
        serialization_format="pickle",
        code_paths=[str(Path(facetransfer.__file__).parent)],
    )
