"""Seeding and random-number-generator state (saved in checkpoints so a resumed run continues the same)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Snapshot of the global generators of Python, NumPy and torch (CPU and CUDA)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore generators saved by ``rng_state`` (CUDA state only when CUDA is available)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochShuffleSampler(Sampler[int]):
    """Random permutation of ``range(size)`` drawn from ``(seed, epoch)`` only.

    Unlike a sampler fed by a running generator, epoch ``e`` has the same order whether the run
    started at epoch 0 or resumed at ``e`` from a checkpoint.

    Args:
        size: number of samples.
        seed: base seed.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_permutation(self.size, self.seed, self.epoch))

    def __len__(self) -> int:
        return self.size


def epoch_permutation(size: int, seed: int, epoch: int) -> list[int]:
    """The permutation of ``range(size)`` that epoch ``epoch`` of a run seeded ``seed`` visits."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(size, generator=generator).tolist()


class DistributedEpochShuffleSampler(DistributedSampler):
    """One process's shard of ``EpochShuffleSampler``'s permutation (data-parallel training).

    Rank ``r`` of ``N`` takes every N-th index of the permutation, starting at ``r``. With a
    per-process batch of ``B / N``, the k-th batches of all ranks together hold exactly the
    samples of the k-th batch of a single process with batch ``B`` (only their order differs),
    so N processes see the same global batches as one, and a resumed epoch the same order.

    Args:
        dataset: the training dataset (only its length is used).
        seed: base seed (as ``EpochShuffleSampler``'s).
        rank: this process's rank.
        num_replicas: number of processes.
    """

    def __init__(self, dataset: Dataset, seed: int, *, rank: int, num_replicas: int) -> None:
        # drop_last: the tail that does not fill one sample per rank is left out, as the
        # single-process loader drops its last incomplete batch.
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )

    def __iter__(self) -> Iterator[int]:
        indices = epoch_permutation(len(self.dataset), self.seed, self.epoch)  # type: ignore[arg-type]
        return iter(indices[self.rank : self.total_size : self.num_replicas])
