"""The training driver: epochs, early stopping on validation loss, checkpoints and resume."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from facetransfer.runtime.device import DeviceSettings, cpu_threads, deterministic_algorithms
from facetransfer.runtime.process_group import is_main_process
from facetransfer.runtime.reproducibility import restore_rng_state, rng_state
from facetransfer.training.checkpoint import load_checkpoint, save_checkpoint
from facetransfer.training.data_parallel import unwrap_model
from facetransfer.training.distributed import average_over_processes, broadcast_from_main
from facetransfer.training.loop import Task, evaluate, recalibrate_batch_norm, train_one_epoch
from facetransfer.training.settings import TrainConfig

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the 1-based epoch number and that epoch's metrics."""


@dataclass(frozen=True)
class ParameterGroup:
    """Parameters, chosen by name, trained at ``lr_scale`` times the schedule's learning rate.

    Groups select by parameter name (not by object) so that they apply to whatever copy of the
    model is trained (a data-parallel replica is a deep copy).

    Attributes:
        name: label of the group (kept in the optimiser state).
        prefixes: a parameter belongs to the first group with a prefix of its name.
        lr_scale: multiplier of the learning rate.
    """

    name: str
    prefixes: tuple[str, ...]
    lr_scale: float = 1.0


@dataclass
class FitResult:
    """What ``fit`` did.

    Attributes:
        history: one dict per epoch: ``epoch, train_loss, val_loss, val_<metric>..., seconds``.
        best_epoch: 1-based epoch whose weights the model holds at the end.
        best_val_loss: validation loss of that epoch.
        epochs_run: epochs completed (including those before a resume).
        seconds: wall time of all epochs (including those before a resume).
        stopped_early: whether early stopping ended the run.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    epochs_run: int = 0
    seconds: float = 0.0
    stopped_early: bool = False


def _set_epoch(loader: DataLoader, epoch: int) -> None:
    for component in (loader.sampler, loader.dataset):
        if hasattr(component, "set_epoch"):
            component.set_epoch(epoch)


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``: constant, or a cosine decay from ``learning_rate``.

    The cosine schedule starts at the configured rate (the paper's 1e-3) and decays towards 0
    over ``config.epochs``; it depends on the epoch only, so a resumed run continues it exactly.
    """
    if config.learning_rate_schedule == "constant":
        return config.learning_rate
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))


def build_optimizer(
    model: nn.Module, config: TrainConfig, parameter_groups: Sequence[ParameterGroup] | None = None
) -> torch.optim.Adam:
    """Adam over the trainable parameters of ``model``, one group per ``parameter_groups`` entry.

    Without groups every trainable parameter trains at ``config.learning_rate``. Frozen
    parameters (``requires_grad`` false) and empty groups are left out.

    Raises:
        ValueError: a trainable parameter matches no group, or nothing is trainable.
    """
    groups = list(parameter_groups or [ParameterGroup("all", ("",))])
    members: dict[str, list[nn.Parameter]] = {group.name: [] for group in groups}
    for name, parameter in unwrap_model(model).named_parameters():
        if not parameter.requires_grad:
            continue
        group = next((g for g in groups if name.startswith(g.prefixes)), None)
        if group is None:
            raise ValueError(f"trainable parameter {name!r} is in no parameter group")
        members[group.name].append(parameter)
    optimizer_groups = [
        {
            "params": members[g.name],
            "lr": config.learning_rate * g.lr_scale,
            "lr_scale": g.lr_scale,
            "name": g.name,
        }
        for g in groups
        if members[g.name]
    ]
    if not optimizer_groups:
        raise ValueError("the model has no trainable parameter")
    return torch.optim.Adam(optimizer_groups, lr=config.learning_rate)


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    task: Task,
    *,
    config: TrainConfig,
    settings: DeviceSettings,
    checkpoint_path: str | Path | None = None,
    run_key: dict[str, Any] | None = None,
    epoch_callback: EpochCallback | None = None,
    parameter_groups: Sequence[ParameterGroup] | None = None,
) -> FitResult:
    """Train with Adam and early stopping; the model ends with its best validation-loss weights.

    A checkpoint is written after every epoch. If ``checkpoint_path`` already holds a checkpoint
    of the same ``run_key``, training resumes after its last epoch (a finished run is not
    repeated: its best weights are loaded and returned at once).

    Data-parallel (inside a ``torch.distributed`` process group, see
    ``facetransfer.training.distributed``): every rank runs this with its shard of the training
    batches; the reported training loss is the mean over ranks, validation results are rank 0's,
    and only rank 0 writes the checkpoint and calls ``epoch_callback``.

    Args:
        model: model on ``settings.device``; only parameters with ``requires_grad`` are optimised.
            May be a ``DistributedDataParallel`` wrapper: checkpoints hold the wrapped module.
        train_loader: training batches (its sampler/dataset ``set_epoch`` is called per epoch).
        val_loader: validation batches.
        task: loss and metrics (criterion on the device).
        config: epochs, learning rate, patience, batch cap and determinism.
        settings: device policy.
        checkpoint_path: file for per-epoch checkpoints (``None``: no checkpoints).
        run_key: JSON-like description of the run; a checkpoint is resumed only if it matches.
        epoch_callback: called after each epoch's checkpoint with ``(epoch, metrics)``.
        parameter_groups: parameters trained at other rates (``lr_scale`` times the schedule's
            rate), e.g. transferred layers slower than a new head; default: one group.

    Returns:
        The run's ``FitResult``.

    Raises:
        FloatingPointError: the training loss became NaN or infinite.
    """
    run_key = run_key or {}
    module = unwrap_model(model)  # state dicts, BatchNorm recalibration and validation
    optimizer = build_optimizer(model, config, parameter_groups)
    scaler = torch.amp.GradScaler(settings.device.type) if settings.needs_grad_scaler else None
    state = _TrainingState()
    if checkpoint_path is not None:
        state = _resume(checkpoint_path, run_key, module, optimizer, scaler, config) or state
    with deterministic_algorithms(config.deterministic), cpu_threads(config.cpu_threads):
        for epoch in range(state.start_epoch, config.epochs):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(config, epoch) * group["lr_scale"]
            record = _train_and_validate(
                model, (train_loader, val_loader), optimizer, task, settings, scaler, config, epoch
            )
            state.add(record, module, config.patience, config.min_epochs)
            logger.info(
                "epoch %d: %s",
                epoch + 1,
                ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch"),
            )
            if checkpoint_path is not None and is_main_process():
                save_checkpoint(checkpoint_path, state.checkpoint(run_key, module, optimizer, scaler, config))
            if epoch_callback is not None and is_main_process():
                epoch_callback(epoch + 1, dict(record))
            if state.result.stopped_early:
                logger.info("early stop: no lower validation loss for %d epochs", state.stale_epochs)
                break
    if state.best_state is not None:
        module.load_state_dict(state.best_state)
    logger.info("best epoch %d (val_loss %.4g)", state.result.best_epoch, state.result.best_val_loss)
    return state.result


@dataclass
class _TrainingState:
    """What a run carries from epoch to epoch (and through a checkpoint)."""

    result: FitResult = field(default_factory=FitResult)
    best_state: dict[str, torch.Tensor] | None = None
    stale_epochs: int = 0
    start_epoch: int = 0

    def add(self, record: dict[str, float], module: nn.Module, patience: int, min_epochs: int = 0) -> None:
        """Record an epoch; keep its weights if its validation loss is the lowest so far.

        Early stopping acts after ``patience`` epochs without a lower validation loss, but never
        before ``min_epochs`` epochs have run.
        """
        result = self.result
        result.history.append(record)
        result.epochs_run, result.seconds = int(record["epoch"]), result.seconds + record["seconds"]
        if record["val_loss"] < result.best_val_loss:
            result.best_val_loss, result.best_epoch, self.stale_epochs = (
                record["val_loss"],
                result.epochs_run,
                0,
            )
            self.best_state = _copy_state(module)
        else:
            self.stale_epochs += 1
        result.stopped_early = self.stale_epochs >= patience and result.epochs_run >= min_epochs

    def checkpoint(
        self,
        run_key: dict[str, Any],
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
        config: TrainConfig,
    ) -> dict[str, Any]:
        """Everything a resumed run needs, after the last recorded epoch."""
        epoch = self.result.epochs_run
        return {
            "run_key": run_key,
            "epoch": epoch,
            "finished": self.result.stopped_early or epoch == config.epochs,
            "model": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "best_model": self.best_state,
            "stale_epochs": self.stale_epochs,
            "result": vars(self.result),
            "rng": rng_state(),
        }


def _resume(
    path: str | Path,
    run_key: dict[str, Any],
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    config: TrainConfig,
) -> _TrainingState | None:
    """Load the checkpoint of this run into model, optimiser and RNGs; ``None`` when there is none."""
    saved = load_checkpoint(path, run_key)
    if saved is None:
        return None
    module.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if scaler is not None and saved.get("scaler") is not None:
        scaler.load_state_dict(saved["scaler"])
    restore_rng_state(saved["rng"])
    logger.info("resuming from %s after epoch %d", path, saved["epoch"])
    return _TrainingState(
        result=FitResult(**saved["result"]),
        best_state=saved["best_model"],
        stale_epochs=saved["stale_epochs"],
        start_epoch=config.epochs if saved["finished"] else saved["epoch"],
    )


def _train_and_validate(
    model: nn.Module,
    loaders: tuple[DataLoader, DataLoader],
    optimizer: torch.optim.Optimizer,
    task: Task,
    settings: DeviceSettings,
    scaler: torch.amp.GradScaler | None,
    config: TrainConfig,
    epoch: int,
) -> dict[str, float]:
    """One epoch of training, BatchNorm recalibration and validation; the epoch's record.

    Raises:
        FloatingPointError: the training loss became NaN or infinite.
    """
    train_loader, val_loader = loaders
    module = unwrap_model(model)
    started = time.perf_counter()
    _set_epoch(train_loader, epoch)
    train_loss = train_one_epoch(
        model,
        train_loader,
        optimizer,
        task,
        settings,
        scaler=scaler,
        max_batches=config.max_batches_per_epoch,
        description=f"epoch {epoch + 1}/{config.epochs}",
    )
    train_loss = average_over_processes(train_loss)
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f"training diverged: the loss is {train_loss} in epoch {epoch + 1}; "
            "lower the learning rate or check the data"
        )
    recalibrate_batch_norm(
        module, train_loader, settings, max_batches=config.batch_norm_recalibration_batches
    )
    validation = broadcast_from_main(evaluate(module, val_loader, task, settings))
    return {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        "val_loss": validation.pop("loss"),
        **{f"val_{name}": value for name, value in validation.items()},
        "seconds": time.perf_counter() - started,
    }
