"""High-level training tasks called by the pipeline steps: train a segmenter, train a detector."""

from __future__ import annotations

import hashlib
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from facetransfer.classes import ClassScheme
from facetransfer.inputs.datasets import DetectionDataset, SegmentationDataset
from facetransfer.models import build_detector, build_segmenter, count_parameters
from facetransfer.models.deeplab import ENCODER_DECODER_PREFIXES
from facetransfer.models.pretrained import Pretrained
from facetransfer.runtime.device import DeviceSettings, device_settings
from facetransfer.runtime.loaders import build_loader
from facetransfer.runtime.reproducibility import seed_everything
from facetransfer.training.data_parallel import data_parallel, global_batch_criterion, unwrap_model
from facetransfer.training.distributed import launches_data_parallel
from facetransfer.training.fit import EpochCallback, FitResult, ParameterGroup, fit
from facetransfer.training.loop import DetectionTask, SegmentationTask, Task
from facetransfer.training.losses import (
    detection_criterion,
    detection_pos_weight,
    median_frequency_weights,
    pixel_class_counts,
    segmentation_criterion,
)
from facetransfer.training.results import DetectorTrainingResult, SegmenterTrainingResult
from facetransfer.training.settings import TrainConfig

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


def _frame_digest(frame: pd.DataFrame, columns: list[str]) -> str:
    present = [column for column in columns if column in frame.columns]
    text = frame[present].astype(str).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run_key(task: str, config: TrainConfig, frames: tuple[pd.DataFrame, pd.DataFrame], **extra: Any) -> dict:
    # Content hashes too: files regenerated under the same paths must not resume a stale run.
    # Runtime choices stay out; so does `distributed`: the global batches do not depend on the
    # process count, so a run resumes with any nproc (and keys of existing runs are unchanged).
    columns = ["path", "sha256", "mask_path", "mask_sha256", "mask_encoding", "label"]
    runtime = ("num_workers", "device", "cpu_threads", "distributed", "sample_cache")
    settings = {k: v for k, v in config.to_dict().items() if k not in runtime}
    return {"task": task, "config": settings, "data": [_frame_digest(f, columns) for f in frames], **extra}


def _prepare_datasets(datasets: tuple[Any, Any]) -> None:
    """Fill the sample caches before training (DataLoader workers then share or read them)."""
    started = time.perf_counter()
    for dataset in datasets:
        dataset.preload()
    modes = sorted({dataset.cache_mode for dataset in datasets})
    logger.info(
        "prepared %d images (sample cache: %s) in %.1f s",
        sum(map(len, datasets)),
        ", ".join(modes),
        time.perf_counter() - started,
    )


def _train(
    model: nn.Module,
    datasets: tuple[Any, Any],
    task: Task,
    *,
    config: TrainConfig,
    settings: DeviceSettings,
    checkpoint_dir: str | Path,
    run_key: dict,
    epoch_callback: EpochCallback | None,
    parameter_groups: list[ParameterGroup] | None = None,
) -> FitResult:
    train_dataset, val_dataset = datasets
    settings.prepare_model(model)
    task.criterion.to(settings.device)
    # Data-parallel hooks; outside a process group they return `model` and the criterion as they are.
    trained = data_parallel(model, settings.device)
    task.criterion = global_batch_criterion(task.criterion)
    fit_result = fit(
        trained,
        build_loader(
            train_dataset, batch_size=config.batch_size, settings=settings, shuffle_seed=config.seed
        ),
        build_loader(val_dataset, batch_size=config.batch_size, settings=settings, shuffle_seed=None),
        task,
        config=config,
        settings=settings,
        checkpoint_path=Path(checkpoint_dir) / CHECKPOINT_FILE,
        run_key=run_key,
        epoch_callback=epoch_callback,
        parameter_groups=parameter_groups,
    )
    if trained is not model:
        model.load_state_dict(unwrap_model(trained).state_dict())
    model.to("cpu").to(memory_format=torch.contiguous_format).eval()
    return fit_result


def _common_fields(model: nn.Module, fit_result: FitResult, settings: DeviceSettings) -> dict[str, Any]:
    return {
        "model": model,
        "backbone": model.backbone_name,
        "history": fit_result.history,
        "best_epoch": fit_result.best_epoch,
        "epochs_run": fit_result.epochs_run,
        "seconds": fit_result.seconds,
        "stopped_early": fit_result.stopped_early,
        "parameters": count_parameters(model),
        "trainable_parameters": count_parameters(model, trainable_only=True),
        "pretrained_loaded": bool(model.pretrained_loaded),
        "device": str(settings.device),
    }


@launches_data_parallel
def train_segmenter(
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    *,
    backbone: str,
    scheme: ClassScheme,
    config: TrainConfig,
    checkpoint_dir: str | Path,
    pretrained: Pretrained = False,
    epoch_callback: EpochCallback | None = None,
    sample_cache_dir: str | Path | None = None,
) -> SegmenterTrainingResult:
    """Train the DeepLabV3+ face parser with class-weighted cross entropy.

    Args:
        train_frame: training rows (``path``, ``mask_path``, optional ``mask_encoding``).
        val_frame: validation rows, same columns (early stopping monitors their loss).
        backbone: ``"resnet50"`` or ``"mobilenet_v3_large"``.
        scheme: class scheme of the masks (sets the number of classes and the flip swap).
        config: hyper-parameters and runtime options.
        checkpoint_dir: directory of the per-epoch checkpoint; a rerun of the same run resumes.
        pretrained: initialise the backbone with cached ImageNet weights if available.
        epoch_callback: ``(epoch, metrics)`` hook, e.g. to log metrics to MLflow (called in
            this process, once per epoch, also when ``config.distributed.nproc > 1``).
        sample_cache_dir: folder of the on-disk sample cache (``config.sample_cache``).

    Returns:
        The trained model (CPU, eval mode), history and training facts.

    Raises:
        ValueError: ``config.input_mode`` is not ``resize`` (segmentation needs whole images).
    """
    if config.input_mode != "resize":
        raise ValueError(
            f"segmenters read whole images: input_mode must be 'resize', not {config.input_mode!r}"
        )
    settings = device_settings(config.device, amp=config.amp, num_workers=config.num_workers)
    seed_everything(config.seed)
    make_dataset = partial(
        SegmentationDataset,
        preprocessing=config.preprocessing(backbone),
        scheme=scheme,
        cache=config.sample_cache,
        cache_dir=sample_cache_dir,
    )
    datasets = (
        make_dataset(train_frame, augment=config.augment, seed=config.seed),
        make_dataset(val_frame, augment=False),
    )
    _prepare_datasets(datasets)
    class_weights = median_frequency_weights(
        pixel_class_counts(datasets[0].iter_masks(), scheme.num_classes), power=config.class_weight_power
    )
    logger.info("class weights: %s", dict(zip(scheme.names, class_weights.round(3).tolist(), strict=True)))
    model = build_segmenter(backbone, num_classes=scheme.num_classes, pretrained=pretrained)
    task = SegmentationTask(segmentation_criterion(class_weights), scheme.num_classes)
    run_key = _run_key(
        "segmentation",
        config,
        (train_frame, val_frame),
        backbone=backbone,
        scheme=scheme.name,
        pretrained=pretrained,
    )
    fit_result = _train(
        model,
        datasets,
        task,
        config=config,
        settings=settings,
        checkpoint_dir=checkpoint_dir,
        run_key=run_key,
        epoch_callback=epoch_callback,
    )
    return SegmenterTrainingResult(
        **_common_fields(model, fit_result, settings),
        scheme=scheme.name,
        class_weights=class_weights.tolist(),
    )


@launches_data_parallel
def train_detector(
    train_frame: pd.DataFrame,
    val_frame: pd.DataFrame,
    *,
    backbone: str,
    variant: str,
    segmenter: nn.Module | None,
    config: TrainConfig,
    checkpoint_dir: str | Path,
    pretrained: Pretrained = False,
    epoch_callback: EpochCallback | None = None,
    sample_cache_dir: str | Path | None = None,
) -> DetectorTrainingResult:
    """Train a real-vs-generated detector, transferring from ``segmenter`` per ``variant``.

    Args:
        train_frame: training rows (``path``, ``label``: 0 real, 1 fake).
        val_frame: validation rows, same columns (early stopping monitors their loss).
        backbone: ``"resnet50"`` or ``"mobilenet_v3_large"``.
        variant: ``"none"``, ``"last"`` or ``"all"`` (see ``facetransfer.models.build_detector``).
        segmenter: trained segmenter of the same backbone (required unless ``variant == "none"``).
        config: hyper-parameters and runtime options.
        checkpoint_dir: directory of the per-epoch checkpoint; a rerun of the same run resumes.
        pretrained: for ``none``: initialise the backbone with cached ImageNet weights.
        epoch_callback: ``(epoch, metrics)`` hook, e.g. to log metrics to MLflow (called in
            this process, once per epoch, also when ``config.distributed.nproc > 1``).
        sample_cache_dir: folder of the on-disk sample cache (``config.sample_cache``).

    Returns:
        The trained model (CPU, eval mode), history and training facts.
    """
    settings = device_settings(config.device, amp=config.amp, num_workers=config.num_workers)
    seed_everything(config.seed)
    make_dataset = partial(
        DetectionDataset,
        preprocessing=config.preprocessing(backbone),
        cache=config.sample_cache,
        cache_dir=sample_cache_dir,
    )
    datasets = (
        make_dataset(
            train_frame,
            augment=config.augment,
            horizontal_flip=config.horizontal_flip,
            blur_jpeg_prob=config.blur_jpeg_prob,
            seed=config.seed,
        ),
        make_dataset(val_frame, augment=False),
    )
    pos_weight = detection_pos_weight(datasets[0].labels)
    _prepare_datasets(datasets)
    model = build_detector(backbone, variant, segmenter=segmenter, pretrained=pretrained)
    run_key = _run_key(
        "detection",
        config,
        (train_frame, val_frame),
        backbone=backbone,
        variant=variant,
        pretrained=pretrained,
        segmenter=_state_digest(segmenter) if variant != "none" else None,
    )
    fit_result = _train(
        model,
        datasets,
        DetectionTask(detection_criterion(pos_weight)),
        config=config,
        settings=settings,
        checkpoint_dir=checkpoint_dir,
        run_key=run_key,
        epoch_callback=epoch_callback,
        parameter_groups=detector_parameter_groups(model, config.transferred_learning_rate_scale),
    )
    return DetectorTrainingResult(
        **_common_fields(model, fit_result, settings), variant=variant, pos_weight=pos_weight
    )


def detector_parameter_groups(model: nn.Module, transferred_scale: float) -> list[ParameterGroup]:
    """The new head at the base rate; backbone, ASPP and decoder at ``transferred_scale`` when they
    start from a trained model (a transfer variant, or ImageNet weights for ``none``)."""
    transferred = getattr(model, "variant", "none") != "none" or bool(
        getattr(model, "pretrained_loaded", False)
    )
    return [
        ParameterGroup("head", ("head.",), 1.0),
        ParameterGroup("body", ENCODER_DECODER_PREFIXES, transferred_scale if transferred else 1.0),
    ]


def _state_digest(model: nn.Module | None) -> str | None:
    """Short digest of a model's weights (a checkpoint resumes only for the same segmenter)."""
    if model is None:
        return None
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
