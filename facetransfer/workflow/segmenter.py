"""Train the face parser and evaluate it on the test split (the paper's Table 1)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from facetransfer.classes import ClassScheme
from facetransfer.config import ModelTrainingSettings
from facetransfer.evaluation import evaluate_segmenter, segmentation_examples, segmentation_overlay_figure
from facetransfer.tracking.runs import log_figure, log_json, log_params
from facetransfer.training import train_segmenter
from facetransfer.workflow.model_runs import (
    MODEL_KIND_TAG,
    finish_training_run,
    log_epoch_metrics,
    model_run,
    split_frame,
)

logger = logging.getLogger(__name__)


def train_and_log_segmenter(
    manifest: pd.DataFrame,
    *,
    backbone: str,
    settings: ModelTrainingSettings,
    scheme: ClassScheme,
    checkpoint_dir: Path,
    tags: Mapping[str, Any],
    sample_cache_dir: Path | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a segmenter on the manifest's train split and log it as run ``segmenter-<backbone>``.

    Logged: every setting, per-epoch train/validation losses and metrics, whether ImageNet
    weights were found, parameter counts, class weights and the model (``weights/``: safetensors).
    The resumable checkpoint in ``checkpoint_dir`` is deleted once the model is logged.

    Returns:
        The trained model (CPU) and a JSON-serialisable report.
    """
    train, val = split_frame(manifest, "train"), split_frame(manifest, "val")
    config = settings.train
    with model_run(
        f"segmenter-{backbone}", tags={**tags, MODEL_KIND_TAG: "segmenter", "backbone": backbone}
    ) as run:
        log_params(
            {
                "backbone": backbone,
                "class_scheme": scheme.name,
                "pretrained_requested": settings.pretrained,
                "train": config.to_dict(),
                "data": {"train_images": len(train), "val_images": len(val)},
            }
        )
        result = train_segmenter(
            train,
            val,
            backbone=backbone,
            scheme=scheme,
            config=config,
            checkpoint_dir=checkpoint_dir,
            pretrained=settings.pretrained,
            epoch_callback=log_epoch_metrics,
            sample_cache_dir=sample_cache_dir,
        )
        log_json(dict(zip(scheme.names, result.class_weights, strict=True)), "class_weights.json")
        common = finish_training_run(
            run,
            result,
            image_size=config.image_size,
            checkpoint_dir=checkpoint_dir,
            model_facts={"scheme": scheme.name},
        )
    report = {"kind": "segmenter", "backbone": backbone, "scheme": scheme.name, **common}
    report["val"] = report.pop("best_val")
    return result.model, report


def evaluate_and_log_segmenter(
    model: nn.Module,
    manifest: pd.DataFrame,
    report: Mapping[str, Any],
    *,
    scheme: ClassScheme,
    batch_size: int,
    overlay_examples: int,
) -> dict[str, Any]:
    """Pixel accuracy, mIoU and per-class IoU on the test split, plus overlays, in the model's run."""
    test = split_frame(manifest, "test")
    image_size = int(report["image_size"])
    metrics: dict[str, Any] = evaluate_segmenter(
        model, test, scheme=scheme, image_size=image_size, batch_size=batch_size
    )
    examples = segmentation_examples(
        model, test, scheme=scheme, image_size=image_size, count=overlay_examples
    )
    import mlflow

    with model_run(run_id=str(report["run_id"])):
        mlflow.log_metrics(
            {
                "test_pixel_accuracy": metrics["pixel_accuracy"],
                "test_miou": metrics["miou"],
                **{
                    f"test_iou_{name}": value
                    for name, value in metrics["per_class_iou"].items()
                    if value == value
                },
            }
        )
        log_figure(
            segmentation_overlay_figure(examples, scheme, title=f"segmenter-{report['backbone']} (test)"),
            "plots/segmentation_overlays.png",
        )
    logger.info(
        "segmenter-%s: test pixel accuracy %.4f, mIoU %.4f",
        report["backbone"],
        metrics["pixel_accuracy"],
        metrics["miou"],
    )
    return {**report, "test": metrics}
