"""Image/mask preprocessing and the paper's training augmentation (DESIGN §6).

Resizing (``facetransfer.imaging.resizing``) and normalisation (``facetransfer.inputs.preprocessing``)
are shared by training, evaluation and prediction, and re-exported here.

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
from facetransfer.imaging.resizing import ImageSize, resize_image, resize_mask
from facetransfer.inputs.preprocessing import IMAGENET_MEAN, IMAGENET_STD, NORMALIZATION

__all__ = [
    "FLIP_MODES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "NORMALIZATION",
    "Augmentation",
    "GridAlignedHorizontalFlip",
    "HorizontalFlipWithLabelSwap",
    "ImageSize",
    "build_detection_augmentation",
    "build_segmentation_augmentation",
    "resize_image",
    "resize_mask",
]

Augmentation = A.Compose
"""Type of the augmentation pipelines built here (joint image/mask albumentations pipelines)."""

ROTATION_DEGREES = 15.0
TRANSLATION_FRACTION = 0.1
SHEAR_DEGREES = math.degrees(0.2)
ZOOM_RANGE = (0.8, 1.2)


class HorizontalFlipWithLabelSwap(A.HorizontalFlip):
    """Horizontal flip that also relabels the mask so left/right classes trade places.

    After mirroring, the left eye of a face lies where its right eye was; without relabelling the
    model would learn contradictory labels. ``lookup_table[class_id]`` gives the new id (see
    ``ClassScheme.flip_lookup_table``); ids beyond the table (``UNKNOWN_CLASS`` pixels of a mask
    kept under ``unknown_color_tolerance``) keep their value.

    Args:
        lookup_table: ``(num_classes,)`` uint8 array mapping each class id to its mirror class.
        p: probability of flipping.
    """

    def __init__(self, lookup_table: np.ndarray, p: float = 0.5) -> None:
        super().__init__(p=p)
        table = np.arange(256, dtype=np.uint8)
        swaps = np.asarray(lookup_table, dtype=np.uint8)
        table[: swaps.size] = swaps
        self.lookup_table = table

    def apply_to_mask(self, mask: np.ndarray, *args: Any, **params: Any) -> np.ndarray:
        """Mirror the mask and swap the left/right class ids."""
        return self.lookup_table[super().apply_to_mask(mask, *args, **params)]


class GridAlignedHorizontalFlip(A.HorizontalFlip):
    """Horizontal flip that keeps every pixel on a column of the same parity.

    Generators up-sample in steps of 2: their traces sit on a period-2 grid of columns (and
    rows). Mirroring an image of even width sends column ``x`` to ``W - 1 - x``, of the other
    parity, so the mirrored trace is the original shifted by half a period: on the demo's
    generators it correlates at -0.85 to -0.94 with the unmirrored one. Trained with a plain flip,
    a detector sees the cue with one sign on half of its fakes and the opposite sign on the other
    half: no linear read-out separates them, and detectors sat at the ln 2 plateau for epochs or
    ended at chance (README "Results of the demo run"). Here the mirrored image is moved one column
    right (the freed first column filled by reflection, from column ``W - 2``), so the pixel at
    ``x`` comes from ``W - x``: same parity, the grid lines stay where the generator put them.
    Images of odd width already keep parity under a plain mirror and are not shifted.
    """

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        """Mirror ``img`` and, at even width, shift it one column right (reflecting at the edge)."""
        mirrored = super().apply(img, **params)
        if img.shape[1] % 2:
            return mirrored
        shifted = np.empty_like(mirrored)
        shifted[:, 1:] = mirrored[:, :-1]
        shifted[:, 0] = mirrored[:, 1]  # reflected: column W - 2, of the same parity as 0
        return shifted


FLIP_MODES = ("grid", "mirror", "none")
"""Detector flips: ``grid`` (mirror keeping the up-sampling grid), ``mirror`` (plain), ``none``."""


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


def build_detection_augmentation(
    *,
    horizontal_flip: str = "grid",
    blur_jpeg_prob: float = 0.0,
    blur_sigma: tuple[float, float] = (0.0, 3.0),
    jpeg_quality: tuple[int, int] = (30, 100),
) -> A.Compose:
    """Augmentation for detector training: horizontal flip, optionally Gaussian blur and JPEG.

    Geometric warps resample the image and would smear the up-sampling artefacts a detector must
    find, so the detector sees mirrored images but no rotation or zoom. ``horizontal_flip`` (one of
    ``FLIP_MODES``, each applied to half the images): ``grid`` mirrors and keeps each column's
    parity (``GridAlignedHorizontalFlip``: the up-sampling traces keep their sign), ``mirror`` is
    the plain flip of earlier versions (inverts period-2 traces), ``none`` does not flip.
    ``blur_jpeg_prob > 0`` adds CNNDetection's robustness augmentation (Wang et al. 2020,
    "Blur+JPEG (p)"): Gaussian blur with sigma ~ U(``blur_sigma``) and JPEG re-compression with
    quality ~ U(``jpeg_quality``), each applied with probability ``blur_jpeg_prob``. They act on the model's
    input square (after resizing or cropping), which keeps their cost independent of the source
    resolution.
    """
    if horizontal_flip not in FLIP_MODES:
        raise ValueError(f"horizontal_flip must be one of {FLIP_MODES}, got {horizontal_flip!r}")
    flips = {"grid": [GridAlignedHorizontalFlip(p=0.5)], "mirror": [A.HorizontalFlip(p=0.5)], "none": []}
    transforms: list[Any] = list(flips[horizontal_flip])
    if blur_jpeg_prob > 0:
        transforms += [
            A.GaussianBlur(blur_limit=0, sigma_limit=blur_sigma, p=blur_jpeg_prob),
            A.ImageCompression(compression_type="jpeg", quality_range=jpeg_quality, p=blur_jpeg_prob),
        ]
    return A.Compose(transforms)
