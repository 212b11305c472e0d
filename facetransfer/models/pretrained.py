"""ImageNet weights for the backbones: from the local torch cache, or downloaded only on request.

The build machines and many production clusters have no internet access, and a training run must
not stall on (or silently depend on) a download. So ``pretrained=True`` means "use the torchvision
ImageNet weights if they are already in the torch hub cache": the caller is told whether they were
loaded and records it with the run. ``pretrained="download"`` is the opt-in for an online machine:
missing weights are fetched through torchvision's own download (hash-checked) into that cache, and
a failed download is an error naming the URL and where to put the file by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import WeightsEnum

logger = logging.getLogger(__name__)

Pretrained = bool | Literal["download"]
"""``False``: random init; ``True``: ImageNet weights from the local torch cache; ``"download"``: also
download them when missing."""


def cached_weight_file(weights_enum: type[WeightsEnum]) -> Path | None:
    """Return the first weight file of ``weights_enum`` present in the local torch hub cache.

    The enum's ``DEFAULT`` entry is tried first, then the other entries in declaration order.
    The cache location is ``torch.hub.get_dir()/checkpoints`` (honours ``TORCH_HOME``), which is
    where ``torchvision`` itself stores downloaded weights.

    Args:
        weights_enum: a torchvision weights enum, e.g. ``ResNet50_Weights``.

    Returns:
        Path of the cached file, or ``None`` when no entry of the enum is cached.
    """
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    candidates = [weights_enum.DEFAULT, *(entry for entry in weights_enum if entry != weights_enum.DEFAULT)]
    for entry in candidates:
        path = checkpoints / Path(urlparse(entry.url).path).name
        if path.is_file():
            return path
    return None


def download_imagenet_weights(weights_enum: type[WeightsEnum]) -> Path:
    """Fetch ``weights_enum.DEFAULT`` into the torch hub cache with torchvision's own download.

    Raises:
        RuntimeError: the download failed (names the URL and the file to place by hand).
    """
    entry = weights_enum.DEFAULT
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(entry.url).path).name
    logger.info("downloading ImageNet weights %s to %s", entry.url, target)
    try:
        entry.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # urllib, ssl, hash mismatch, ...: all mean "no usable file"
        raise RuntimeError(
            f"pretrained: download could not fetch {entry.url} ({type(error).__name__}: {error}); "
            f"download it elsewhere and copy it to {target}, or set pretrained: true/false"
        ) from error
    return target


def load_cached_imagenet_weights(
    model: nn.Module, weights_enum: type[WeightsEnum], *, allow_download: bool = False
) -> bool:
    """Load ImageNet weights into a full torchvision model if they are cached locally.

    Args:
        model: the complete (not yet truncated) torchvision classification model.
        weights_enum: the torchvision weights enum matching ``model``.
        allow_download: fetch missing weights with torchvision's download (``pretrained: download``).

    Returns:
        ``True`` if weights were loaded, ``False`` (after a warning) if none were cached.

    Raises:
        RuntimeError: a cached file exists but does not match the model (corrupt or wrong file);
            the message names the file so it can be deleted. With ``allow_download``: the
            download failed.
    """
    path = cached_weight_file(weights_enum)
    if path is None and allow_download:
        path = download_imagenet_weights(weights_enum)
    if path is None:
        expected = (
            Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights_enum.DEFAULT.url).path).name
        )
        logger.warning(
            "pretrained=True but no ImageNet weights for %s are in the local torch cache (expected %s); "
            "continuing with random initialisation. Copy the file there to use them.",
            weights_enum.__name__,
            expected,
        )
        return False
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, OSError, ValueError) as error:
        raise RuntimeError(
            f"cached ImageNet weight file {path} cannot be loaded ({error}); delete it"
        ) from error
    logger.info("loaded ImageNet weights from %s", path)
    return True
