"""Train the detector variants and evaluate them: overall, per generator, per real source."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from facetransfer.config import EvaluationSettings, ModelTrainingSettings
from facetransfer.evaluation import (
    FEW_IMAGES,
    Calibration,
    calibration_table,
    choose_threshold,
    confusion_matrix_figure,
    detection_confusion_matrix,
    detection_metrics,
    fit_calibration,
    interval_markdown,
    metric_intervals,
    predict_scores,
    reliability_figure,
    roc_curves_figure,
)
from facetransfer.evaluation.detection_metrics import MISSING_GROUP
from facetransfer.evaluation.intervals import INTERVAL_BOUNDS
from facetransfer.evaluation.robustness import (
    CALIBRATION_METRICS,
    ROBUSTNESS_METRICS,
    mean_roc_auc,
    robustness_sweep,
)
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.tracking.runs import log_figure, log_json, log_params, log_table
from facetransfer.training import train_detector
from facetransfer.workflow.ingestion import manifest_fingerprint, trained_generators
from facetransfer.workflow.model_runs import (
    MODEL_KIND_TAG,
    finish_training_run,
    log_epoch_metrics,
    model_run,
    split_frame,
)

logger = logging.getLogger(__name__)

SCORE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision", "eer")
TEST_SCORES = "test_scores"
"""Report key of the per-image test scores (``path``, ``label``, ``score``) promotion pairs on."""


def detector_name(backbone: str, variant: str, seed: int | None = None) -> str:
    """MLflow run name of a detector: ``detector-<backbone>-<variant>``, then ``-seed<k>`` when one
    of several seeds (``detector.seeds``) is named."""
    name = f"detector-{backbone}-{variant}"
    return name if seed is None else f"{name}-seed{seed}"


def report_name(report: Mapping[str, Any]) -> str:
    """The MLflow run name of a detector report (reports that predate seeds: no seed suffix)."""
    return str(report.get("name") or detector_name(str(report["backbone"]), str(report["variant"])))


def train_and_log_detector(
    manifest: pd.DataFrame,
    segmenter: nn.Module | None,
    *,
    backbone: str,
    variant: str,
    settings: ModelTrainingSettings,
    checkpoint_dir: Path,
    tags: Mapping[str, Any],
    segmenter_run_id: str | None = None,
    sample_cache_dir: Path | None = None,
    seed_in_name: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one detector variant on the train split and log it as run ``detector-<backbone>-<variant>``
    (``-seed<k>`` appended with ``seed_in_name``: one of several seeds).

    Args:
        manifest: the validated, split detection manifest.
        segmenter: the trained segmenter of ``backbone`` (``None`` for variant ``none``).
        backbone: ``resnet50`` or ``mobilenet_v3_large``.
        variant: ``none``, ``last`` or ``all`` (Table 2's "—", "Last", "All").
        settings: detector training settings.
        checkpoint_dir: resumable per-epoch checkpoint (deleted once the model is logged).
        tags: provenance tags of the run (git commit, ZenML run, ...); the data's hash and the
            generators trained on are added here (``data.hash``, ``data.generators``).
        segmenter_run_id: MLflow run of the segmenter the weights were transferred from.
        sample_cache_dir: folder of the on-disk sample cache.
        seed_in_name: name the run by its seed (``settings.train.seed``) too.
    """
    train, val = split_frame(manifest, "train"), split_frame(manifest, "val")
    config = settings.train
    name = detector_name(backbone, variant, config.seed if seed_in_name else None)
    generators = trained_generators(manifest)
    run_tags = {
        **tags,
        "data.hash": manifest_fingerprint(manifest),
        "data.generators": ",".join(generators),
        MODEL_KIND_TAG: "detector",
        "backbone": backbone,
        "variant": variant,
        "seed": config.seed,
    }
    if segmenter_run_id and variant != "none":
        run_tags["transferred_from_run"] = segmenter_run_id
    with model_run(name, tags=run_tags) as run:
        log_params(
            {
                "backbone": backbone,
                "variant": variant,
                "pretrained_requested": settings.pretrained,
                "train": config.to_dict(),
                "data": _training_data_facts(train, val, generators),
            }
        )
        result = train_detector(
            train,
            val,
            backbone=backbone,
            variant=variant,
            segmenter=segmenter if variant != "none" else None,
            config=config,
            checkpoint_dir=checkpoint_dir,
            pretrained=settings.pretrained,
            epoch_callback=log_epoch_metrics,
            sample_cache_dir=sample_cache_dir,
        )
        preprocessing = config.preprocessing(backbone).to_dict()
        common = finish_training_run(
            run,
            result,
            image_size=config.image_size,
            checkpoint_dir=checkpoint_dir,
            model_facts={"preprocessing": preprocessing},
            pos_weight=round(result.pos_weight, 6),
        )
    report = {
        "kind": "detector",
        "name": name,
        "backbone": backbone,
        "variant": variant,
        "seed": config.seed,
        "generators_trained": generators,
        "segmenter_run_id": segmenter_run_id if variant != "none" else None,
        "preprocessing": preprocessing,
        **common,
    }
    return result.model, report


def _training_data_facts(train: pd.DataFrame, val: pd.DataFrame, generators: list[str]) -> dict[str, Any]:
    return {
        "train_images": len(train),
        "val_images": len(val),
        "train_real": int((train["label"] == 0).sum()),
        "train_fake": int((train["label"] == 1).sum()),
        "generators": generators,
    }


def score_detector(
    model: nn.Module, frame: pd.DataFrame, *, preprocessing: Preprocessing, batch_size: int
) -> pd.DataFrame:
    """``frame`` with a ``score`` column: the model's fake probability of each image."""
    scores = predict_scores(model, frame, preprocessing=preprocessing, batch_size=batch_size)
    return frame.assign(score=scores)


def report_preprocessing(report: Mapping[str, Any]) -> Preprocessing:
    """The input settings a detector report records (resize mode for reports that predate them)."""
    if report.get("preprocessing"):
        return Preprocessing.from_dict(dict(report["preprocessing"]))
    return Preprocessing.for_backbone(str(report["backbone"]), int(report["image_size"]))


def generator_subsets(scored: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per generator: its images together with all real images (so every metric is defined)."""
    real = scored[scored["label"] == 0]
    return {
        str(generator): pd.concat([real, fakes])
        for generator, fakes in scored[scored["label"] == 1].groupby("generator", dropna=True)
    }


def metrics_by_scope(
    scored_test: pd.DataFrame, threshold: float, intervals: EvaluationSettings | None = None
) -> dict[str, Any]:
    """Metrics of scored test rows: overall, per generator and per source.

    Per generator: that generator's images together with all real test images, so precision,
    ROC-AUC and EER are defined. Per source: the rows of each source alone (for a real source,
    accuracy is the share of its images correctly called real).

    With ``intervals``, every scope also gets ``<metric>_ci_low`` / ``<metric>_ci_high`` (bootstrap,
    stratified by class) and ``few_images``: fewer than ``min_images_for_ci`` images of its own (a
    generator's fakes, a source's images, all test images overall).
    """

    def measured(rows: pd.DataFrame, images: int) -> dict[str, Any]:
        metrics = detection_metrics(rows["label"], rows["score"], threshold)
        if intervals is None:
            return metrics
        if intervals.bootstrap_resamples:
            metrics |= metric_intervals(
                rows["label"],
                rows["score"],
                threshold,
                n_resamples=intervals.bootstrap_resamples,
                confidence_level=intervals.confidence_level,
                seed=intervals.bootstrap_seed,
            )
        return metrics | {FEW_IMAGES: images < intervals.min_images_for_ci}

    per_generator = {
        generator: measured(subset, int((subset["label"] == 1).sum()))
        for generator, subset in generator_subsets(scored_test).items()
    }
    sources = scored_test["source"].astype(object).where(scored_test["source"].notna(), MISSING_GROUP)
    per_source = {
        str(source): measured(rows, len(rows)) for source, rows in scored_test.groupby(sources.astype(str))
    }
    return {
        "overall": measured(scored_test, len(scored_test)),
        "per_generator": per_generator,
        "per_source": per_source,
    }


def score_records(scored: pd.DataFrame) -> dict[str, list]:
    """Per-image scores as plain lists: ``{"path": [...], "label": [...], "score": [...]}``."""
    return {
        "path": scored["path"].astype(str).tolist(),
        "label": scored["label"].astype(int).tolist(),
        "score": scored["score"].astype(float).tolist(),
    }


def evaluate_and_log_detector(
    model: nn.Module,
    manifest: pd.DataFrame,
    report: Mapping[str, Any],
    *,
    settings: EvaluationSettings,
) -> dict[str, Any]:
    """Choose the threshold on validation, evaluate on test, log metrics, tables and plots.

    Logged into the detector's run: ``val_*`` and ``test_*`` metrics (accuracy, precision, recall,
    F1, ROC-AUC, AP, EER, threshold), ``test_<generator>_*`` per generator, each test metric with
    its bootstrap interval (``test_f1_ci_low`` / ``test_f1_ci_high``, ...), the per-generator and
    per-source tables, the confusion matrix and ROC curves (overall and per generator), and the
    calibration (``log_calibration``).

    The calibration (``settings.calibration``) is fitted on the validation split at the chosen
    threshold; from then on scores, threshold and metrics are those the registered version serves:
    calibrated probabilities at the re-expressed threshold (the same decisions, so the same
    accuracy, F1, ROC-AUC, ...).

    Returns:
        The report completed with ``threshold`` (calibrated scale), ``calibration``, ``val``,
        ``test`` (with intervals), ``robustness``, the per-image test scores (``test_scores``) and
        ``interval_settings``.
    """
    preprocessing = report_preprocessing(report)
    val, test = (
        score_detector(
            model, split_frame(manifest, split), preprocessing=preprocessing, batch_size=settings.batch_size
        )
        for split in ("val", "test")
    )
    calibration = fit_calibration(
        val["label"],
        val["score"],
        choose_threshold(
            val["label"], val["score"], rule=settings.threshold_rule, fixed=settings.fixed_threshold
        ),
        method=settings.calibration,
    )
    uncalibrated_test = test["score"].to_numpy()
    # From here on the served scale: calibrated scores, the re-expressed threshold (same decisions).
    val, test = (frame.assign(score=calibration.scores(frame["score"])) for frame in (val, test))
    threshold = calibration.threshold
    val_metrics = detection_metrics(val["label"], val["score"], threshold)
    test_metrics = metrics_by_scope(test, threshold, intervals=settings)
    sweep = robustness_sweep(
        model,
        test,
        preprocessing=preprocessing,
        threshold=threshold,
        perturbations=settings.robustness,
        batch_size=settings.batch_size,
        temperature=calibration.temperature,
        calibration_bins=settings.calibration_bins,
    )
    name = report_name(report)
    import mlflow

    with model_run(run_id=str(report["run_id"])):
        # At the last training epoch's step: training logged val_f1, val_accuracy, ... per epoch
        # (threshold 0.5, that epoch's weights); MLflow shows a run's value at its highest step,
        # so the evaluation's (the kept weights, the chosen threshold) must be the one shown.
        mlflow.log_metrics(
            _prefixed("val", val_metrics) | _prefixed("test", test_metrics["overall"]),
            step=int(report.get("epochs_run") or 0),
        )
        for generator, metrics in test_metrics["per_generator"].items():
            mlflow.log_metrics(_prefixed(f"test_{generator}", metrics))
        mlflow.log_param("threshold_rule", settings.threshold_rule)
        for scope in ("generator", "source"):
            log_interval_table(
                _metrics_frame(test_metrics[f"per_{scope}"], scope),
                f"tables/per_{scope}_metrics",
                label_column=scope,
                min_images=settings.min_images_for_ci,
            )
        log_robustness(sweep)
        ece = log_calibration(
            calibration,
            test["label"],
            uncalibrated_test,
            test["score"],
            sweep,
            bins=settings.calibration_bins,
            title=f"{name} (test)",
        )
        calibrated = calibration.to_dict() | ece
        log_json(
            {
                "threshold": threshold,
                "calibration": calibrated,
                "val": val_metrics,
                "test": test_metrics,
                "robustness": sweep,
            },
            "metrics.json",
        )
        log_figure(
            confusion_matrix_figure(
                detection_confusion_matrix(test_metrics["overall"]), title=f"{name} (test)"
            ),
            "plots/confusion_matrix.png",
        )
        log_figure(roc_curves_figure(_roc_inputs(test), title=f"{name} (test)"), "plots/roc_curves.png")
    logger.info(
        "%s: threshold %.4f, val F1 %.4f, test F1 %.4f, temperature %.3g (test ECE %.4f -> %.4f)",
        name,
        threshold,
        val_metrics["f1"],
        test_metrics["overall"]["f1"],
        calibration.temperature,
        ece["test_ece_before"],
        ece["test_ece_after"],
    )
    interval_settings = {
        "n_resamples": settings.bootstrap_resamples,
        "confidence_level": settings.confidence_level,
        "seed": settings.bootstrap_seed,
        "min_images": settings.min_images_for_ci,
    }
    return {
        **report,
        "threshold": threshold,
        "calibration": calibrated,
        "val": val_metrics,
        "test": test_metrics,
        "robustness": sweep,
        TEST_SCORES: score_records(test),
        "interval_settings": interval_settings,
    }


def log_interval_table(
    frame: pd.DataFrame, stem: str, *, label_column: str | None = None, min_images: int = 0
) -> None:
    """Log a metrics table to the active run: ``<stem>.csv`` numeric (``*_ci_low`` / ``*_ci_high``
    columns), ``<stem>.md`` with ``0.955 [0.91, 0.99]`` cells and ``*`` on rows with few images."""
    import mlflow

    mlflow.log_text(frame.to_csv(index=False), f"{stem}.csv")
    mlflow.log_text(interval_markdown(frame, label_column=label_column, min_images=min_images), f"{stem}.md")


def log_robustness(sweep: Mapping[str, Mapping[str, float]], prefix: str = "robust") -> None:
    """Log a robustness sweep to the active run: ``<prefix>/<perturbation>/<metric>`` and the mean ROC-AUC."""
    import mlflow

    if not sweep:
        return
    for name, metrics in sweep.items():
        mlflow.log_metrics(
            prefixed_metrics(
                f"{prefix}/{name}", metrics, (*ROBUSTNESS_METRICS, *CALIBRATION_METRICS), separator="/"
            )
        )
    mean = mean_roc_auc(sweep)
    if np.isfinite(mean):
        mlflow.log_metric(f"{prefix}/mean_roc_auc", mean)


def log_calibration(
    calibration: Calibration,
    labels: Any,
    uncalibrated: Any,
    calibrated: Any,
    sweep: Mapping[str, Mapping[str, float]],
    *,
    bins: int,
    title: str,
) -> dict[str, Any]:
    """Log a detector's calibration to the active run; return its test ECE before and after.

    Logged: ``calibration_temperature``, ``threshold_uncalibrated``, ``test_ece_before`` /
    ``test_ece_after`` (expected calibration error, ``bins`` equal-width bins), the table
    ``tables/calibration`` (ECE before / after on the clean test split and under each
    perturbation) and ``plots/reliability.png`` (before and after, with the diagonal).
    """
    import mlflow

    table = calibration_table(labels, uncalibrated, calibrated, sweep, bins=bins)
    ece = {
        "test_ece_before": float(table.at[0, "ece_before"]),
        "test_ece_after": float(table.at[0, "ece_after"]),
    }
    mlflow.log_metrics(
        {
            "calibration_temperature": calibration.temperature,
            "threshold_uncalibrated": calibration.uncalibrated_threshold,
        }
        | {key: value for key, value in ece.items() if np.isfinite(value)}
    )
    log_table(table, "tables/calibration")
    curves = {
        "before": (labels, uncalibrated),
        f"after, T = {calibration.temperature:.3g}": (labels, calibrated),
    }
    log_figure(reliability_figure(curves, bins=bins, title=title), "plots/reliability.png")
    return ece | {"bins": bins}


def prefixed_metrics(
    prefix: str, metrics: Mapping[str, Any], keys: tuple[str, ...] = SCORE_METRICS, separator: str = "_"
) -> dict[str, float]:
    """MLflow metrics ``<prefix><separator><key>`` of the finite ``keys`` present in ``metrics``."""
    return {
        f"{prefix}{separator}{k}": float(metrics[k]) for k in keys if k in metrics and np.isfinite(metrics[k])
    }


def _prefixed(prefix: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    return prefixed_metrics(prefix, metrics, (*SCORE_METRICS, *INTERVAL_BOUNDS, "threshold"))


def _metrics_frame(metrics: Mapping[str, Mapping[str, Any]], key: str) -> pd.DataFrame:
    return pd.DataFrame([{key: name, **values} for name, values in metrics.items()])


def _roc_inputs(scored: pd.DataFrame) -> dict[str, tuple[Any, Any]]:
    curves = {"overall": (scored["label"], scored["score"])}
    for generator, subset in generator_subsets(scored).items():
        curves[generator] = (subset["label"], subset["score"])
    return curves
