"""torch Datasets over manifest rows: face-parsing pairs and real/fake detection samples.

This is the one place where training and evaluation data is read. Images are decoded to RGB,
resized to ``image_size`` (area interpolation when shrinking, masks nearest) and normalised
with the backbone's ImageNet statistics. Decoded, resized samples can be cached in memory
(``cache=True``) so a small dataset is decoded once per process; augmentation runs after the
cache, seeded per ``(seed, epoch, index)`` so every epoch is reproducible whatever the number of
DataLoader workers or the order samples are drawn in.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

from facetransfer.classes import ClassScheme, load_class_mask
from facetransfer.data.image_checks import ensure_decodable_size
from facetransfer.data.transforms import (
    Augmentation,
    build_detection_augmentation,
    build_segmentation_augmentation,
    normalization_for,
    normalize_image,
    resize_image,
    resize_mask,
)

logger = logging.getLogger(__name__)

Sample = tuple[np.ndarray, np.ndarray | int]


def read_rgb_image(path: str | Path, size: int) -> np.ndarray:
    """Read an image file as ``(size, size, 3)`` uint8 RGB.

    JPEGs are decoded directly at a reduced scale when much larger than ``size`` (Pillow's draft
    mode), which makes 1024² CelebA-HQ/FFHQ images several times cheaper to read.

    Raises:
        OSError: the file is missing or not a readable image (the message names it);
            ``ImageTooLargeError`` when its header declares more pixels than the bomb guard allows
            (checked before decoding).
    """
    ensure_decodable_size(path)
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))
            rgb = np.asarray(image.convert("RGB"))
    except OSError as error:
        raise OSError(f"cannot read image {path}: {error}") from error
    return resize_image(rgb, size)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} needs columns {', '.join(missing)}; the frame has {', '.join(frame.columns)}"
        )


def _resolve(paths: pd.Series, root: str | Path | None) -> list[Path]:
    base = Path(root) if root is not None else None
    return [
        base / p if base is not None and not Path(p).is_absolute() else Path(p) for p in paths.astype(str)
    ]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Seed of the augmentation of sample ``index`` in ``epoch`` (independent of worker and order)."""
    return int(np.random.SeedSequence((seed, epoch, index)).generate_state(1)[0])


class _ManifestDataset(Dataset, abc.ABC):
    """Shared machinery: optional cache of decoded samples, per-epoch seeded augmentation."""

    def __init__(
        self,
        image_paths: list[Path],
        *,
        image_size: int,
        backbone: str,
        augmentation: Augmentation | None,
        cache: bool,
        seed: int,
    ) -> None:
        if image_size <= 0:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.image_paths = image_paths
        self.image_size = image_size
        self.mean, self.std = normalization_for(backbone)
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0
        self._cache: list[Sample | None] | None = [None] * len(image_paths) if cache else None

    def __len__(self) -> int:
        return len(self.image_paths)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before iterating each epoch)."""
        self.epoch = epoch

    @abc.abstractmethod
    def _decode(self, index: int) -> Sample:
        """Read and resize sample ``index`` from disk."""

    def decoded(self, index: int) -> Sample:
        """The resized, not augmented, not normalised sample ``index`` (from the cache if enabled)."""
        if self._cache is None:
            return self._decode(index)
        sample = self._cache[index]
        if sample is None:
            sample = self._cache[index] = self._decode(index)
        return sample

    def preload(self, threads: int | None = None) -> None:
        """Fill the cache now, decoding with a thread pool (image decoding releases the GIL).

        Filling it before DataLoader workers start lets them share it instead of decoding again.
        Does nothing when the dataset was built with ``cache=False``.
        """
        if self._cache is None:
            return
        missing = [i for i, sample in enumerate(self._cache) if sample is None]
        with ThreadPoolExecutor(max_workers=threads or min(8, os.cpu_count() or 1)) as pool:
            for index, sample in zip(missing, pool.map(self._decode, missing), strict=True):
                self._cache[index] = sample
        logger.debug("cached %d decoded samples", len(missing))

    def _augmentation_for(self, index: int) -> Augmentation | None:
        """The augmentation seeded for sample ``index`` of the current epoch, or ``None``."""
        if self.augmentation is not None:
            self.augmentation.set_random_seed(sample_seed(self.seed, self.epoch, index))
        return self.augmentation

    def _image_tensor(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(normalize_image(image, self.mean, self.std))


class SegmentationDataset(_ManifestDataset):
    """Face-parsing pairs ``(image (3, S, S) float32, mask (S, S) int64)`` from manifest rows.

    Args:
        frame: rows with ``path`` (image), ``mask_path`` and optionally ``mask_encoding``
            (``"color"`` or ``"index"``; ``"color"`` when the column is absent).
        image_size: side ``S`` images and masks are resized to.
        backbone: backbone name (selects the normalisation statistics).
        scheme: class scheme of the masks.
        augment: apply the paper's augmentation (training split only).
        cache: keep decoded, resized samples in memory.
        seed: base seed of the augmentation.
        root: directory relative paths are resolved against (``None``: as given).

    Raises:
        ValueError: missing columns (at construction); a mask with colours or ids outside the
            scheme (when the sample is read; the message names the file).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        image_size: int,
        backbone: str,
        scheme: ClassScheme,
        augment: bool,
        cache: bool = False,
        seed: int = 0,
        root: str | Path | None = None,
    ) -> None:
        _require_columns(frame, ["path", "mask_path"], "SegmentationDataset")
        super().__init__(
            _resolve(frame["path"], root),
            image_size=image_size,
            backbone=backbone,
            augmentation=build_segmentation_augmentation(scheme) if augment else None,
            cache=cache,
            seed=seed,
        )
        self.scheme = scheme
        self.mask_paths = _resolve(frame["mask_path"], root)
        encodings = frame["mask_encoding"] if "mask_encoding" in frame.columns else ["color"] * len(frame)
        self.mask_encodings = [str(encoding) for encoding in encodings]

    def read_mask(self, index: int) -> np.ndarray:
        """Class ids of mask ``index`` resized to ``image_size`` (uint8, not augmented).

        Raises:
            ValueError: the mask holds pixels outside the scheme (UNKNOWN_CLASS).
        """
        path = self.mask_paths[index]
        decoded = load_class_mask(path, encoding=self.mask_encodings[index], scheme=self.scheme)
        if decoded.unknown_pixels:
            raise ValueError(
                f"mask {path} has {decoded.unknown_pixels} pixels outside scheme {self.scheme.name!r} "
                f"(first at row, col, value {decoded.first_unknown}); quarantine or fix the file"
            )
        return resize_mask(decoded.class_ids, self.image_size)

    def _decode(self, index: int) -> Sample:
        return read_rgb_image(self.image_paths[index], self.image_size), self.read_mask(index)

    def iter_masks(self) -> Iterator[np.ndarray]:
        """Yield the resized masks one at a time (for streaming statistics such as class weights)."""
        for index in range(len(self)):
            cached = self._cache[index] if self._cache is not None else None
            yield np.asarray(cached[1]) if cached is not None else self.read_mask(index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.decoded(index)
        augmentation = self._augmentation_for(index)
        if augmentation is not None:
            result = augmentation(image=image, mask=mask)
            image, mask = result["image"], result["mask"]
        return self._image_tensor(image), torch.from_numpy(np.ascontiguousarray(mask)).long()


class ImageDataset(_ManifestDataset):
    """Unlabelled images ``(image (3, S, S) float32, row index)`` for prediction.

    Args:
        frame: rows with ``path``.
        image_size: side ``S`` images are resized to.
        backbone: backbone name (selects the normalisation statistics).
        root: directory relative paths are resolved against (``None``: as given).
    """

    def __init__(
        self, frame: pd.DataFrame, *, image_size: int, backbone: str, root: str | Path | None = None
    ) -> None:
        _require_columns(frame, ["path"], "ImageDataset")
        super().__init__(
            _resolve(frame["path"], root),
            image_size=image_size,
            backbone=backbone,
            augmentation=None,
            cache=False,
            seed=0,
        )

    def _decode(self, index: int) -> Sample:
        return read_rgb_image(self.image_paths[index], self.image_size), index

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, _ = self.decoded(index)
        return self._image_tensor(image), index


class DetectionDataset(_ManifestDataset):
    """Real/fake samples ``(image (3, S, S) float32, label float32 scalar)``: 0 real, 1 fake.

    Args:
        frame: rows with ``path`` and ``label`` (0 or 1).
        image_size: side ``S`` images are resized to.
        backbone: backbone name (selects the normalisation statistics).
        augment: random horizontal flips (see ``build_detection_augmentation``).
        cache: keep decoded, resized images in memory.
        seed: base seed of the augmentation.
        root: directory relative paths are resolved against (``None``: as given).

    Raises:
        ValueError: missing columns or labels other than 0 and 1.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        image_size: int,
        backbone: str,
        augment: bool = False,
        cache: bool = False,
        seed: int = 0,
        root: str | Path | None = None,
    ) -> None:
        _require_columns(frame, ["path", "label"], "DetectionDataset")
        labels = frame["label"].to_numpy()
        invalid = sorted({value for value in labels.tolist() if value not in (0, 1)}, key=str)
        if invalid:
            raise ValueError(f"labels must be 0 (real) or 1 (fake); found {invalid[:5]}")
        super().__init__(
            _resolve(frame["path"], root),
            image_size=image_size,
            backbone=backbone,
            augmentation=build_detection_augmentation() if augment else None,
            cache=cache,
            seed=seed,
        )
        self.labels = labels.astype(np.int64)

    def _decode(self, index: int) -> Sample:
        return read_rgb_image(self.image_paths[index], self.image_size), int(self.labels[index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.decoded(index)
        augmentation = self._augmentation_for(index)
        if augmentation is not None:
            image = augmentation(image=image)["image"]
        return self._image_tensor(image), torch.tensor(float(label))
