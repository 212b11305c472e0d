"""torch Datasets over manifest rows: face-parsing pairs and real/fake detection samples.

This is the one place where training and evaluation data is read. Files are decoded by the one
policy of ``facetransfer.imaging.decoding`` (every faithful mode to RGB, 16-bit scaled, EXIF
orientation) and prepared by a ``Preprocessing`` (resize, or crop for detectors), the same object
that travels with a registered model, so training, evaluation and serving see the same pixels.

Decoded samples (stage one of the preprocessing) can be cached:

* ``memory``: kept in this process (small data; filled before DataLoader workers start so they
  share it);
* ``disk``: ``SampleCache`` files keyed by the file's sha256 and the preprocessing, so an epoch
  over a large dataset decodes nothing twice without holding it in RAM, and a later run reuses them;
* ``auto``: memory when the whole set fits in ``MEMORY_CACHE_LIMIT_BYTES``, else disk (when a
  cache folder is given), else none.

Augmentation runs after the cache, seeded per ``(seed, epoch, index)`` so every epoch is
reproducible whatever the number of DataLoader workers or the order samples are drawn in.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from facetransfer.classes import ClassScheme, load_class_mask
from facetransfer.imaging.decoding import ImageSource
from facetransfer.inputs.preprocessing import Perturbation, Preprocessing
from facetransfer.inputs.sample_cache import SampleCache
from facetransfer.inputs.transforms import (
    Augmentation,
    build_detection_augmentation,
    build_segmentation_augmentation,
    resize_mask,
)

logger = logging.getLogger(__name__)

CacheMode = Literal["auto", "memory", "disk", "none"]
CACHE_MODES: tuple[str, ...] = ("auto", "memory", "disk", "none")
MEMORY_CACHE_LIMIT_BYTES = 2 * 1024**3
"""``auto`` keeps decoded samples in memory up to this estimated size, on disk beyond it."""

Sample = tuple[np.ndarray, Any]


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


def estimated_stage_one_bytes(frame: pd.DataFrame, preprocessing: Preprocessing) -> int:
    """Bytes the decoded stage-one images of ``frame`` take (from its ``width``/``height`` columns)."""
    side = preprocessing.image_size
    if preprocessing.input_mode == "resize" or not {"width", "height"} <= set(frame.columns):
        return len(frame) * side * side * 3 * (1 if preprocessing.input_mode == "resize" else 16)
    shorter = np.minimum(frame["width"], frame["height"]).clip(lower=1).to_numpy(dtype=np.float64)
    target = np.maximum(preprocessing.load_size or shorter, side)
    scale = target / shorter
    return int((frame["width"] * scale * frame["height"] * scale * 3).sum())


def choose_cache_mode(
    requested: str, frame: pd.DataFrame, preprocessing: Preprocessing, cache_dir: str | Path | None
) -> str:
    """Resolve ``auto`` (see the module docstring); check that ``disk`` has a folder and sha256s."""
    if requested not in CACHE_MODES:
        raise ValueError(f"sample cache must be one of {', '.join(CACHE_MODES)}, got {requested!r}")
    if requested == "disk" and (cache_dir is None or "sha256" not in frame.columns):
        raise ValueError("the disk sample cache needs a cache folder and the manifest's sha256 column")
    if requested != "auto":
        return requested
    if estimated_stage_one_bytes(frame, preprocessing) <= MEMORY_CACHE_LIMIT_BYTES:
        return "memory"
    return "disk" if cache_dir is not None and "sha256" in frame.columns else "none"


class _ManifestDataset(Dataset, abc.ABC):
    """Shared machinery: the sample cache (memory or disk), per-epoch seeded augmentation."""

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        preprocessing: Preprocessing,
        augmentation: Augmentation | None,
        cache: str,
        cache_dir: str | Path | None,
        seed: int,
        root: str | Path | None,
    ) -> None:
        self.image_paths = _resolve(frame["path"], root)
        self.preprocessing = preprocessing
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0
        self.cache_mode = choose_cache_mode(cache, frame, preprocessing, cache_dir)
        self._memory: list[Sample | None] | None = (
            [None] * len(frame) if self.cache_mode == "memory" else None
        )
        self._disk = SampleCache(cache_dir) if self.cache_mode == "disk" and cache_dir is not None else None
        self._sha256 = frame["sha256"].astype(str).tolist() if "sha256" in frame.columns else None

    def __len__(self) -> int:
        return len(self.image_paths)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before iterating each epoch)."""
        self.epoch = epoch

    @abc.abstractmethod
    def _target(self, index: int) -> Any:
        """The label or mask of sample ``index`` (at stage-one size)."""

    def load_image(self, index: int) -> np.ndarray:
        """Stage one of image ``index``, through the disk cache when it is on."""
        if self._disk is None or self._sha256 is None:
            return self.preprocessing.load(self.image_paths[index])
        key = SampleCache.key(self._sha256[index], self.preprocessing.cache_key)
        cached = self._disk.get(key)
        if cached is None:
            cached = self.preprocessing.load(self.image_paths[index])
            self._disk.put(key, cached)
        return cached

    def decoded(self, index: int) -> Sample:
        """The stage-one sample ``index`` (not augmented, not normalised; from the memory cache if on)."""
        if self._memory is None:
            return self.load_image(index), self._target(index)
        sample = self._memory[index]
        if sample is None:
            sample = self._memory[index] = (self.load_image(index), self._target(index))
        return sample

    def preload(self, threads: int | None = None) -> None:
        """Fill the memory or disk cache now, decoding with a thread pool (decoding releases the GIL).

        Filling it before DataLoader workers start lets them share it instead of decoding again.
        Does nothing without a cache.
        """
        if self.cache_mode == "none":
            return
        if self._memory is not None:
            missing = [i for i, sample in enumerate(self._memory) if sample is None]
            load = self.decoded
        else:
            missing, load = list(range(len(self))), self.load_image  # type: ignore[assignment]
        with ThreadPoolExecutor(max_workers=threads or min(8, os.cpu_count() or 1)) as pool:
            for _ in pool.map(load, missing):
                pass
        logger.debug("cached %d decoded samples (%s)", len(missing), self.cache_mode)

    def _rng_for(self, index: int) -> np.random.Generator | None:
        """The augmentation RNG of sample ``index`` this epoch (seeding albumentations too), or ``None``."""
        if self.augmentation is None:
            return None
        seed = sample_seed(self.seed, self.epoch, index)
        self.augmentation.set_random_seed(seed)
        return np.random.default_rng(seed)

    def _image_tensor(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.preprocessing.normalize(image))


class SegmentationDataset(_ManifestDataset):
    """Face-parsing pairs ``(image (3, S, S) float32, mask (S, S) int64)`` from manifest rows.

    Mask pixels outside the scheme (kept by ingestion under a source's ``unknown_color_tolerance``)
    stay ``UNKNOWN_CLASS``, which the loss and the metrics ignore.

    Args:
        frame: rows with ``path`` (image), ``mask_path`` and optionally ``mask_encoding``
            (``"color"`` or ``"index"``; ``"color"`` when the column is absent) and ``sha256``.
        preprocessing: resize-mode preprocessing (sets the side ``S``).
        scheme: class scheme of the masks.
        augment: apply the paper's augmentation (training split only).
        cache: ``auto``, ``memory``, ``disk`` (images only) or ``none``.
        cache_dir: folder of the disk cache.
        seed: base seed of the augmentation.
        root: directory relative paths are resolved against (``None``: as given).

    Raises:
        ValueError: missing columns, or a crop-mode preprocessing.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        preprocessing: Preprocessing,
        scheme: ClassScheme,
        augment: bool,
        cache: str = "none",
        cache_dir: str | Path | None = None,
        seed: int = 0,
        root: str | Path | None = None,
    ) -> None:
        _require_columns(frame, ["path", "mask_path"], "SegmentationDataset")
        if preprocessing.input_mode != "resize":
            raise ValueError(
                "segmentation reads whole images: its preprocessing must use input_mode 'resize'"
            )
        super().__init__(
            frame,
            preprocessing=preprocessing,
            augmentation=build_segmentation_augmentation(scheme) if augment else None,
            cache=cache,
            cache_dir=cache_dir,
            seed=seed,
            root=root,
        )
        self.scheme = scheme
        self.mask_paths = _resolve(frame["mask_path"], root)
        encodings = frame["mask_encoding"] if "mask_encoding" in frame.columns else ["color"] * len(frame)
        self.mask_encodings = [str(encoding) for encoding in encodings]

    def read_mask(self, index: int) -> np.ndarray:
        """Class ids of mask ``index`` resized to ``image_size`` (uint8, not augmented)."""
        path = self.mask_paths[index]
        decoded = load_class_mask(path, encoding=self.mask_encodings[index], scheme=self.scheme)
        if decoded.unknown_pixels:
            logger.debug("mask %s: %d pixels outside the scheme are ignored", path, decoded.unknown_pixels)
        return resize_mask(decoded.class_ids, self.preprocessing.image_size)

    def _target(self, index: int) -> np.ndarray:
        return self.read_mask(index)

    def iter_masks(self) -> Iterator[np.ndarray]:
        """Yield the resized masks one at a time (for streaming statistics such as class weights)."""
        for index in range(len(self)):
            cached = self._memory[index] if self._memory is not None else None
            yield np.asarray(cached[1]) if cached is not None else self.read_mask(index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.decoded(index)
        if self._rng_for(index) is not None:
            assert self.augmentation is not None
            result = self.augmentation(image=np.asarray(image), mask=mask)
            image, mask = result["image"], result["mask"]
        return self._image_tensor(image), torch.from_numpy(np.ascontiguousarray(mask)).long()


class DetectionDataset(_ManifestDataset):
    """Real/fake samples ``(image (3, S, S) float32, label float32 scalar)``: 0 real, 1 fake.

    In crop mode a training sample is a random crop (seeded per epoch and index), an evaluation
    sample the centre crop.

    Args:
        frame: rows with ``path`` and ``label`` (0 or 1), and ``sha256`` for the disk cache.
        preprocessing: how files become inputs (resize or crop).
        augment: training augmentation (random crop, flips, optional blur/JPEG).
        horizontal_flip: the training flip (``facetransfer.inputs.transforms.FLIP_MODES``).
        blur_jpeg_prob: probability of each of blur and JPEG re-compression when augmenting.
        cache: ``auto``, ``memory``, ``disk`` or ``none``.
        cache_dir: folder of the disk cache.
        seed: base seed of the augmentation.
        root: directory relative paths are resolved against (``None``: as given).

    Raises:
        ValueError: missing columns or labels other than 0 and 1.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        preprocessing: Preprocessing,
        augment: bool = False,
        horizontal_flip: str = "grid",
        blur_jpeg_prob: float = 0.0,
        cache: str = "none",
        cache_dir: str | Path | None = None,
        seed: int = 0,
        root: str | Path | None = None,
    ) -> None:
        _require_columns(frame, ["path", "label"], "DetectionDataset")
        labels = frame["label"].to_numpy()
        invalid = sorted({value for value in labels.tolist() if value not in (0, 1)}, key=str)
        if invalid:
            raise ValueError(f"labels must be 0 (real) or 1 (fake); found {invalid[:5]}")
        super().__init__(
            frame,
            preprocessing=preprocessing,
            augmentation=(
                build_detection_augmentation(horizontal_flip=horizontal_flip, blur_jpeg_prob=blur_jpeg_prob)
                if augment
                else None
            ),
            cache=cache,
            cache_dir=cache_dir,
            seed=seed,
            root=root,
        )
        self.labels = labels.astype(np.int64)

    def _target(self, index: int) -> int:
        return int(self.labels[index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        stage_one, label = self.decoded(index)
        rng = self._rng_for(index)
        image = self.preprocessing.finish(np.asarray(stage_one), rng)
        if rng is not None:
            assert self.augmentation is not None
            image = self.augmentation(image=image)["image"]
        return self._image_tensor(image), torch.tensor(float(label))


class ImageDataset(Dataset):
    """Unlabelled images ``(image (3, S, S) float32, row index)`` for evaluation and prediction.

    Each item is exactly ``preprocessing(path)``: decode, centre crop (crop mode), normalise, the
    path a registered model's scoring takes too. A ``perturbation`` (JPEG, blur, rescaling, ...)
    is applied to the decoded full-resolution image first, as a platform would re-encode it.

    Args:
        frame: rows with ``path``.
        preprocessing: the model's input settings.
        perturbation: optional function of the decoded uint8 RGB image.
        root: directory relative paths are resolved against (``None``: as given).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        preprocessing: Preprocessing,
        perturbation: Perturbation | None = None,
        root: str | Path | None = None,
    ) -> None:
        _require_columns(frame, ["path"], "ImageDataset")
        self.image_paths: list[ImageSource] = list(_resolve(frame["path"], root))
        self.preprocessing = preprocessing
        self.perturbation = perturbation

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        array = self.preprocessing(self.image_paths[index], perturbation=self.perturbation)
        return torch.from_numpy(array), index
