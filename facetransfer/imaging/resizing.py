"""Resizing images and class-id masks (OpenCV only: ingestion and serving import it cheaply).

Shared by the preprocessing of every model input, the CelebAMask-HQ mask merging and the
augmentation pipelines, so images and masks are always resized the same way.
"""

from __future__ import annotations

import cv2
import numpy as np

ImageSize = int | tuple[int, int]
"""A square side, or ``(width, height)``."""


def _width_height(size: ImageSize) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def resize_image(image: np.ndarray, size: ImageSize) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``size`` (a side, or ``(width, height)``): area
    interpolation when shrinking (no aliasing), bilinear when enlarging (area degenerates to
    nearest there)."""
    width, height = _width_height(size)
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[0] > height or image.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def resize_mask(mask: np.ndarray, size: ImageSize) -> np.ndarray:
    """Resize an ``(H, W)`` class-id mask to ``size`` with nearest neighbour (no new ids).

    Each output pixel takes the label at its own centre (``INTER_NEAREST_EXACT``), so the mask
    stays aligned with its area-resized image. OpenCV's ``INTER_NEAREST`` takes the top-left
    sample of each block instead, shifting a 16 -> 4 mask by almost half an output pixel.
    """
    width, height = _width_height(size)
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
