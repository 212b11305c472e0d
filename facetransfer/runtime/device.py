"""Device selection and the per-device runtime policy (mixed precision, memory format, loading).

One object, ``DeviceSettings``, carries every decision that differs between CPU and CUDA, so the
training and evaluation loops are the same code on both.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

logger = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``.

    Raises:
        ValueError: unknown name, or CUDA requested but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.split(":")[0] == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available; use 'auto' or 'cpu'")
        return torch.device(name)
    raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class DeviceSettings:
    """Runtime choices for one device.

    Attributes:
        device: where the model runs.
        amp_dtype: autocast dtype (bf16/fp16) or ``None`` for full fp32.
        channels_last: use the channels-last memory format (faster convolutions on tensor cores).
        pin_memory: pin DataLoader batches so host-to-device copies can be asynchronous.
        num_workers: DataLoader worker processes.
    """

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    pin_memory: bool
    num_workers: int

    @property
    def needs_grad_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
        return self.amp_dtype == torch.float16

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for forward passes (a no-op in fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device in the chosen memory format (in place; returns it)."""
        return model.to(self.device).to(memory_format=self.memory_format)

    def images_to_device(self, images: torch.Tensor) -> torch.Tensor:
        """Copy a batch of images to the device (asynchronously when pinned); 4-D in ``memory_format``."""
        memory_format = self.memory_format if images.dim() == 4 else torch.preserve_format
        return images.to(self.device, non_blocking=self.pin_memory, memory_format=memory_format)

    def targets_to_device(self, targets: torch.Tensor) -> torch.Tensor:
        """Copy a batch of targets to the device (asynchronously when pinned)."""
        return targets.to(self.device, non_blocking=self.pin_memory)


def device_settings(
    device: str = "auto", *, amp: bool = True, num_workers: int | None = None
) -> DeviceSettings:
    """Choose the runtime policy for ``device``.

    On CUDA: autocast in bf16 when the GPU supports it, else fp16 (with a GradScaler), channels-last,
    pinned memory and several workers. On CPU: fp32, no pinning and no worker processes by
    default: on a small machine the compute threads need every core, and decoded images are
    cached, so loading in the main process was measured fastest (see benchmarks/). Channels-last
    is used on CPUs with oneDNN (x86): on 2 cores at 64 px it made a detector training step
    14-20 % faster, a segmenter step 3-10 % and inference 30-55 % (``benchmarks/train_step.py``
    prints both formats).

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: allow mixed precision and channels-last on CUDA (CPU channels-last does not change
            the arithmetic's precision and is used whenever oneDNN is available).
        num_workers: DataLoader workers; ``None`` picks the default above.

    Returns:
        The settings for the loops.
    """
    resolved = resolve_device(device)
    cpu_count = os.cpu_count() or 1
    if resolved.type == "cuda":
        amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if amp else None
        workers = min(8, max(1, cpu_count - 1)) if num_workers is None else num_workers
        settings = DeviceSettings(
            resolved, amp_dtype, channels_last=amp, pin_memory=True, num_workers=workers
        )
    else:
        workers = 0 if num_workers is None else num_workers
        settings = DeviceSettings(
            resolved,
            None,
            channels_last=torch.backends.mkldnn.is_available(),
            pin_memory=False,
            num_workers=workers,
        )
    logger.info(
        "device %s, autocast %s, channels_last %s, %d loader workers",
        settings.device,
        settings.amp_dtype,
        settings.channels_last,
        settings.num_workers,
    )
    return settings


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """Request deterministic kernels inside the block and restore the previous global flags after.

    ``warn_only`` keeps ops without a deterministic kernel (e.g. bilinear upsampling backward on
    CUDA) usable; they emit a warning instead of failing.
    """
    if not enabled:
        yield
        return
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[2], previous[3]


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Use ``count`` intra-op CPU threads inside the block (``None``: leave torch's setting)."""
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
