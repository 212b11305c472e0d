"""DataLoaders configured by the device policy, with reproducible epoch-seeded shuffling."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from facetransfer.training.device import DeviceSettings
from facetransfer.training.reproducibility import EpochShuffleSampler


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    settings: DeviceSettings,
    shuffle_seed: int | None,
) -> DataLoader:
    """A DataLoader over ``dataset`` following ``settings`` (workers, pinned memory).

    Args:
        dataset: map-style dataset; may define ``set_epoch`` (seeded augmentation).
        batch_size: samples per batch.
        settings: device policy.
        shuffle_seed: for training: shuffle with ``EpochShuffleSampler(seed)`` and drop a last
            incomplete batch (a batch of one breaks BatchNorm on the 1x1 image-pooling branch).
            ``None`` for evaluation: fixed order, every sample.

    Returns:
        The loader. Workers are not persistent, so each epoch's workers see the dataset's
        current epoch; augmentation is seeded per sample, so results do not depend on them.
    """
    size = len(dataset)  # type: ignore[arg-type]
    if shuffle_seed is None:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            num_workers=settings.num_workers,
            pin_memory=settings.pin_memory,
        )
    if size < 2:
        raise ValueError(f"training needs at least 2 samples (BatchNorm), got {size}")
    return DataLoader(
        dataset,
        batch_size=min(batch_size, size),
        sampler=EpochShuffleSampler(size, shuffle_seed),
        drop_last=True,
        num_workers=settings.num_workers,
        pin_memory=settings.pin_memory,
        generator=torch.Generator().manual_seed(shuffle_seed),
    )
