"""DataLoaders configured by the device policy, with reproducible epoch-seeded shuffling."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from facetransfer.runtime import process_group
from facetransfer.runtime.device import DeviceSettings
from facetransfer.runtime.reproducibility import DistributedEpochShuffleSampler, EpochShuffleSampler


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
            ``None`` for evaluation: fixed order, every sample. In a data-parallel process
            group, ``batch_size`` is the global batch: each of N ranks loads its ``1/N`` share
            of every batch (``DistributedEpochShuffleSampler``).

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
    sampler: Sampler[int] = EpochShuffleSampler(size, shuffle_seed)
    batch_size = min(batch_size, size)
    if process_group.world_size() > 1:
        batch_size, sampler = _shard(dataset, batch_size, shuffle_seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=settings.num_workers,
        pin_memory=settings.pin_memory,
        generator=torch.Generator().manual_seed(shuffle_seed),
    )


def _shard(dataset: Dataset, global_batch: int, seed: int) -> tuple[int, DistributedEpochShuffleSampler]:
    """This rank's per-process batch size and sampler for a global batch of ``global_batch``."""
    world_size = process_group.world_size()
    if global_batch % world_size:
        raise ValueError(
            f"a global batch of {global_batch} does not split evenly over {world_size} processes "
            "(with fewer training samples than batch_size, the batch shrinks to the sample count)"
        )
    sampler = DistributedEpochShuffleSampler(
        dataset, seed, rank=process_group.rank(), num_replicas=world_size
    )
    return global_batch // world_size, sampler
