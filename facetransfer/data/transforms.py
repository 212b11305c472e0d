"""Image/mask preprocessing and the paper's training augmentation (DESIGN §6).

Preprocessing (``resize_image``, ``resize_mask``, ``normalize_image``) is shared by training,
evaluation and prediction so a model always sees images prepared the same way.

Augmentation follows the paper's Keras ``ImageDataGenerator`` settings, applied jointly to image
and mask: rotation ±15°, translation ±10 %, shear 0.2 rad (≈ 11.46°), zoom ±20 %, replicate
("nearest") border fill, nearest-neighbour mask interpolation, then a horizontal flip that swaps
the left/right classes through the scheme's flip lookup table (the original code did not swap).
"""

from __future__ import annotations

import math
import os
from typing import Any

# Without this, importing albumentations makes a blocking request to PyPI (2 s timeout) to look
# for a newer version. setdefault: a user who sets the variable keeps their choice.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: N812 (conventional alias)
import cv2
import numpy as np

from facetransfer.classes import ClassScheme

Augmentation = A.Compose
"""Type of the augmentation pipelines built here (joint image/mask albumentations pipelines)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

NORMALIZATION: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # torchvision's ImageNet weights of both backbones use the same statistics.
    "resnet50": (IMAGENET_MEAN, IMAGENET_STD),
    "mobilenet_v3_large": (IMAGENET_MEAN, IMAGENET_STD),
}
"""``(mean, std)`` of RGB values in [0, 1] per backbone."""

ROTATION_DEGREES = 15.0
TRANSLATION_FRACTION = 0.1
SHEAR_DEGREES = math.degrees(0.2)
ZOOM_RANGE = (0.8, 1.2)


def normalization_for(backbone: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(mean, std)`` as float32 arrays scaled to 0..255 pixel values for ``backbone``.

    Raises:
        ValueError: unknown backbone.
    """
    try:
        mean, std = NORMALIZATION[backbone]
    except KeyError:
        raise ValueError(
            f"no normalisation for backbone {backbone!r}; valid: {', '.join(NORMALIZATION)}"
        ) from None
    return np.array(mean, dtype=np.float32) * 255.0, np.array(std, dtype=np.float32) * 255.0


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``size x size``: area interpolation when shrinking
    (no aliasing), bilinear when enlarging (area degenerates to nearest there)."""
    if image.shape[:2] == (size, size):
        return image
    shrinking = image.shape[0] > size or image.shape[1] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize an ``(H, W)`` class-id mask to ``size x size`` with nearest neighbour (no new ids)."""
    if mask.shape[:2] == (size, size):
        return mask
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)


def normalize_image(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Turn an ``(H, W, 3)`` uint8 RGB image into a ``(3, H, W)`` float32 normalised array."""
    normalized = (image.astype(np.float32) - mean) / std
    return np.ascontiguousarray(normalized.transpose(2, 0, 1))


class HorizontalFlipWithLabelSwap(A.HorizontalFlip):
    """Horizontal flip that also relabels the mask so left/right classes trade places.

    After mirroring, the left eye of a face lies where its right eye was; without relabelling the
    model would learn contradictory labels. ``lookup_table[class_id]`` gives the new id (see
    ``ClassScheme.flip_lookup_table``).

    Args:
        lookup_table: ``(num_classes,)`` uint8 array mapping each class id to its mirror class.
        p: probability of flipping.
    """

    def __init__(self, lookup_table: np.ndarray, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.lookup_table = np.asarray(lookup_table, dtype=np.uint8)

    def apply_to_mask(self, mask: np.ndarray, *args: Any, **params: Any) -> np.ndarray:
        """Mirror the mask and swap the left/right class ids."""
        return self.lookup_table[super().apply_to_mask(mask, *args, **params)]


def build_segmentation_augmentation(scheme: ClassScheme) -> A.Compose:
    """The paper's joint image/mask augmentation for face parsing.

    Args:
        scheme: class scheme whose flip pairs the horizontal flip swaps.

    Returns:
        An albumentations pipeline taking ``image`` (uint8 RGB) and ``mask`` (uint8 class ids).
        Seed it with ``set_random_seed`` for reproducible output.
    """
    return A.Compose(
        [
            A.Affine(
                rotate=(-ROTATION_DEGREES, ROTATION_DEGREES),
                translate_percent={
                    "x": (-TRANSLATION_FRACTION, TRANSLATION_FRACTION),
                    "y": (-TRANSLATION_FRACTION, TRANSLATION_FRACTION),
                },
                shear={"x": (-SHEAR_DEGREES, SHEAR_DEGREES), "y": (0.0, 0.0)},
                scale=ZOOM_RANGE,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REPLICATE,
                p=1.0,
            ),
            HorizontalFlipWithLabelSwap(scheme.flip_lookup_table(), p=0.5),
        ]
    )


def build_detection_augmentation() -> A.Compose:
    """Augmentation for detector training: horizontal flip only.

    Geometric warps resample the image and would smear the up-sampling artefacts a detector must
    find, so the detector sees mirrored images but no interpolation.
    """
    return A.Compose([A.HorizontalFlip(p=0.5)])
