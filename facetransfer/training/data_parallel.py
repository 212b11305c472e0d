"""The model side of data-parallel training: DDP wrapper, synchronised BatchNorm, global-batch loss.

Inside a ``torch.distributed`` process group (see ``facetransfer.training.distributed``) each of
N processes computes on ``B / N`` samples of every global batch ``B``. Three things make that
the same optimisation as one process with batch ``B``: DDP averages the gradients; BatchNorm
normalises with the statistics of the global batch, not of each rank's slice (which would also
be noisy for small slices); and a loss that is a weighted mean (the class-weighted cross
entropy) is divided by the global sum of weights, not each rank's own.

``torch.nn.SyncBatchNorm`` gives global statistics for GPU tensors only (its kernels, e.g.
``batch_norm_stats``, have no CPU implementation, and DDP refuses it in a CPU module), while
CPU + gloo is the path of the tests and of small machines. ``synchronize_batch_norm`` therefore
converts BatchNorm layers to ``torch.nn.SyncBatchNorm`` on CUDA and to ``CpuSyncBatchNorm`` on
CPU, which computes the same statistics with one all-reduce of per-channel sums (in float64) and
lets autograd differentiate through a differentiable all-reduce, as torch's GPU implementation
does in its backward. In eval mode both are ordinary BatchNorm with running statistics, and
their ``state_dict`` keys are ``BatchNorm2d``'s, so checkpoints move freely between
single-process and data-parallel runs.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from facetransfer.runtime.process_group import is_distributed, world_size

logger = logging.getLogger(__name__)


class _AllReduceSum(torch.autograd.Function):
    """Sum over all processes, differentiable: the backward sums the gradients the same way."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        reduced = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(reduced, group=group)
        return reduced

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        reduced = grad_output.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(reduced, group=ctx.group)
        return reduced, None


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics span every process of the default group (CPU)."""

    @classmethod
    def from_batch_norm(cls, layer: nn.BatchNorm2d) -> CpuSyncBatchNorm:
        """A synchronised layer sharing ``layer``'s parameters, buffers and train/eval mode."""
        replacement = cls(
            layer.num_features, layer.eps, layer.momentum, layer.affine, layer.track_running_stats
        )
        if layer.affine:
            # The same Parameter objects: requires_grad (frozen layers) and device are kept.
            replacement.weight, replacement.bias = layer.weight, layer.bias
        replacement.running_mean = layer.running_mean
        replacement.running_var = layer.running_var
        replacement.num_batches_tracked = layer.num_batches_tracked
        replacement.train(layer.training)
        return replacement

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise with statistics over every process's batch (training) or running ones (eval)."""
        if not (self.training and world_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.dim())]
        shape = [1, channels] + [1] * (input.dim() - 2)
        # One-pass variance from float64 sums (E[x^2] - E[x]^2 stays exact enough in float64).
        local = torch.cat(
            [
                input.sum(dims, dtype=torch.float64),
                input.square().sum(dims, dtype=torch.float64),
                input.new_tensor([input.numel() // channels], dtype=torch.float64),
            ]
        )
        total = _AllReduceSum.apply(local, dist.group.WORLD)
        count = total[-1]
        mean = total[:channels] / count
        variance = (total[channels : 2 * channels] / count - mean.square()).clamp_min(0)
        scale = torch.rsqrt(variance + self.eps)
        output = (input - mean.to(input.dtype).view(shape)) * scale.to(input.dtype).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            self._update_running_stats(mean.detach(), variance.detach(), count.detach())
        return output

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, variance: torch.Tensor, count: torch.Tensor) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        # momentum None: cumulative average (as torch's BatchNorm; used by BatchNorm recalibration).
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = variance * count / (count - 1).clamp_min(1)
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)


def synchronize_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """Make the BatchNorm layers of ``module`` (on ``device``) use statistics of all processes.

    CUDA: ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``. CPU: every ``BatchNorm2d`` becomes a
    ``CpuSyncBatchNorm`` (the models here have no other kind; any other is left per-process,
    with a warning).

    Returns:
        The converted module (``module`` itself, changed in place, unless it is a BatchNorm layer).
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, CpuSyncBatchNorm):
        return CpuSyncBatchNorm.from_batch_norm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        logger.warning("%s keeps per-process statistics: only BatchNorm2d is synchronised on CPU", module)
        return module
    for name, child in module.named_children():
        module.add_module(name, synchronize_batch_norm(child, device))
    return module


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` itself outside a process group, else a DDP replica with synchronised BatchNorm.

    The replica is a deep copy (the caller's model keeps plain BatchNorm layers; copy the trained
    state back with ``unwrap_model(replica).state_dict()``, whose keys are the model's).
    ``forward_sync_buffers`` is off: synchronised BatchNorm gives every rank the same running
    statistics, so broadcasting them from rank 0 each step would only cost time.
    """
    if not is_distributed():
        return model
    replica = synchronize_batch_norm(copy.deepcopy(model), device)
    device_ids = None
    if device.type == "cuda":
        device_ids = [device.index if device.index is not None else torch.cuda.current_device()]
    return DistributedDataParallel(replica, device_ids=device_ids, forward_sync_buffers=False)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (``model`` itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class GlobalBatchCrossEntropy(nn.Module):
    """``CrossEntropyLoss`` whose mean over a data-parallel step is the mean over the global batch.

    A class-weighted (or ``ignore_index``) cross entropy is ``sum(w_i * l_i) / sum(w_i)``; the
    mean of N ranks' own such ratios is not the global one. While gradients are computed, this
    returns ``N * sum_rank(w_i * l_i) / sum_all_ranks(w_i)``, whose average over ranks (what DDP
    applies) is exactly the single-process loss of the global batch. Without gradients
    (evaluation: every rank sees the whole validation set) it is the wrapped loss.
    """

    def __init__(self, criterion: nn.CrossEntropyLoss) -> None:
        super().__init__()
        self.criterion = criterion

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        criterion = self.criterion
        if not torch.is_grad_enabled() or world_size() == 1 or targets.is_floating_point():
            return criterion(outputs, targets)
        total = nn.functional.cross_entropy(
            outputs, targets, weight=criterion.weight, ignore_index=criterion.ignore_index, reduction="sum"
        )
        valid = targets[targets != criterion.ignore_index]
        weights = criterion.weight[valid].sum() if criterion.weight is not None else valid.numel()
        denominator = torch.as_tensor(weights, dtype=torch.float64, device=outputs.device).reshape(1)
        dist.all_reduce(denominator)
        return total * world_size() / denominator.to(total.dtype).reshape(())


def global_batch_criterion(criterion: nn.Module) -> nn.Module:
    """``criterion`` made exact for global batches (see ``GlobalBatchCrossEntropy``).

    Only ``CrossEntropyLoss`` (without label smoothing) needs it: the detection loss is a plain
    mean over equally many samples per rank, which DDP's gradient average already gets right.
    Outside a process group ``criterion`` is returned as it is.
    """
    if not is_distributed() or not isinstance(criterion, nn.CrossEntropyLoss):
        return criterion
    if criterion.label_smoothing:
        logger.warning(
            "label smoothing: the cross entropy is averaged per process, not over the global batch"
        )
        return criterion
    return GlobalBatchCrossEntropy(criterion)
