"""Cross-generator protocol: will a detector catch a generator it has never seen?

Leave-one-generator-out (``leave_out``): for each listed generator ``g``, a detector is trained on
the real images and every other generator (train and validation splits without ``g``), then
scores the whole test split: ``g``'s test images are the unseen generator, the others the seen
ones. Optionally train-on-one (``train_on_one``): trained on the real images and ``g`` alone,
tested on every generator (CNNDetection's protocol). The test split is the one every detector of
the project is measured on; only training and validation rows change per fold, so early stopping
never sees the held-out generator either. Generators of the data that are not listed stay in every
fold's training data (their columns are always "seen").

The summary logs, into the pipeline's MLflow run, the generators x generators matrices of ROC-AUC
and AP (no decision threshold: none could be chosen without images of the unseen generator), the
mean ROC-AUC on unseen generators per variant with its bootstrap interval, and the transfer
question as a table of the variants (``facetransfer.evaluation.cross_generator`` says how the
intervals are computed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from facetransfer.config import ModelTrainingSettings
from facetransfer.evaluation.cross_generator import (
    CROSS_GENERATOR_KEYS,
    MATRIX_METRICS,
    CrossGeneratorCells,
    cell_matrix,
    cross_generator_cells,
    cross_generator_figure,
    interval_matrix,
)
from facetransfer.evaluation.cross_generator_summary import summary_metrics, transfer_table, variant_summary
from facetransfer.evaluation.interval_tables import interval_markdown
from facetransfer.evaluation.plots import METRIC_LABELS
from facetransfer.jsonable import to_jsonable
from facetransfer.tracking.runs import log_figure
from facetransfer.tracking.tables import BACKBONE_LABELS, VARIANT_LABELS
from facetransfer.workflow.detector import report_preprocessing, score_detector, train_and_log_detector
from facetransfer.workflow.model_runs import pipeline_run, split_frame

logger = logging.getLogger(__name__)

Setting = Literal["leave_out", "train_on_one"]
SETTING_LABELS = {"leave_out": "all but {}", "train_on_one": "only {}"}
"""Row label of a fold in the matrices: what its detector was trained on besides the real images."""
SETTING_TAG, GENERATOR_TAG = "generalization.setting", "generalization.generator"
TRAINING_SPLITS = ("train", "val")


class GeneralizationSettings(BaseModel):
    """Which folds the cross-generator protocol trains.

    Attributes:
        generators: the generators to hold out one at a time (names of the detection data's
            generators; at least two). Listed explicitly because the pipeline's steps are laid
            out before the data is read; a name the data lacks stops the fold with the data's list.
        train_on_one: also train one detector per generator on that generator alone.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    generators: list[str] = Field(min_length=2)
    train_on_one: bool = False

    @field_validator("generators")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"generalization.generators lists {', '.join(repeated)} more than once")
        return value

    def folds(self) -> list[tuple[Setting, str]]:
        """``(setting, generator)`` of every fold, leave-one-out first."""
        settings: list[Setting] = ["leave_out", "train_on_one"] if self.train_on_one else ["leave_out"]
        return [(setting, generator) for setting in settings for generator in self.generators]


def fold_manifest(manifest: pd.DataFrame, setting: Setting, generator: str) -> pd.DataFrame:
    """The split manifest one fold trains on: its train and validation rows filtered, test rows kept.

    ``leave_out``: every image of ``generator`` leaves the train and validation splits.
    ``train_on_one``: every generated image of another generator leaves them.

    Raises:
        ValueError: ``generator`` is not in the data, or the fold leaves a training split
            without real or without generated images.
    """
    fake = manifest["label"] == 1
    known = sorted(manifest.loc[fake, "generator"].dropna().astype(str).unique())
    if generator not in known:
        raise ValueError(
            f"generalization.generators: {generator!r} is not a generator of the detection data "
            f"(it has {', '.join(known) or 'none'}); list only those, or bring its images in "
            "with `facetransfer add-generator`"
        )
    of_generator = manifest["generator"].astype(object) == generator
    held_out = of_generator if setting == "leave_out" else fake & ~of_generator
    fold = manifest[~(manifest["split"].isin(TRAINING_SPLITS) & held_out)].reset_index(drop=True)
    for split in TRAINING_SPLITS:
        labels = set(fold.loc[fold["split"] == split, "label"].astype(int))
        if labels != {0, 1}:
            raise ValueError(
                f"fold {setting} {generator!r}: its {split} split holds no "
                f"{'real' if 0 not in labels else 'generated'} image; the protocol needs both"
            )
    return fold


def fold_run_name(backbone: str, variant: str, setting: Setting, generator: str) -> str:
    """MLflow run name of a fold's detector: ``generalization-<backbone>-<variant>-<setting>-<generator>``."""
    return f"generalization-{backbone}-{variant}-{setting}-{generator}"


def train_and_score_fold(
    manifest: pd.DataFrame,
    segmenter: nn.Module | None,
    *,
    backbone: str,
    variant: str,
    setting: Setting,
    generator: str,
    settings: ModelTrainingSettings,
    batch_size: int,
    checkpoint_dir: Path,
    tags: Mapping[str, Any],
    segmenter_run_id: str | None = None,
    sample_cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Train one fold's detector (``train_and_log_detector`` on ``fold_manifest``) and score the test split.

    The detector's MLflow run (nested under the pipeline's run) is named by ``fold_run_name`` and
    tagged ``generalization.setting`` / ``generalization.generator``.

    Returns:
        The fold (``CROSS_GENERATOR_KEYS``), the generators it trained on, its MLflow run and the
        per-image test scores (``path``, ``label``, ``generator``, ``score``).
    """
    fold = fold_manifest(manifest, setting, generator)
    model, report = train_and_log_detector(
        fold,
        segmenter,
        backbone=backbone,
        variant=variant,
        settings=settings,
        checkpoint_dir=checkpoint_dir,
        tags={**tags, SETTING_TAG: setting, GENERATOR_TAG: generator},
        segmenter_run_id=segmenter_run_id,
        sample_cache_dir=sample_cache_dir,
    )
    from mlflow.tracking import MlflowClient

    MlflowClient().update_run(report["run_id"], name=fold_run_name(backbone, variant, setting, generator))
    scored = score_detector(
        model,
        split_frame(manifest, "test"),
        preprocessing=report_preprocessing(report),
        batch_size=batch_size,
    )
    logger.info(
        "fold %s %s %s %s trained on %s", backbone, variant, setting, generator, report["generators_trained"]
    )
    return {
        "backbone": backbone,
        "variant": variant,
        "setting": setting,
        "held_generator": generator,
        "generators_trained": list(report["generators_trained"]),
        "run_id": report["run_id"],
        "best_epoch": report["best_epoch"],
        "epochs_run": report["epochs_run"],
        "scores": {
            "path": scored["path"].astype(str).tolist(),
            "label": scored["label"].astype(int).tolist(),
            "generator": [None if pd.isna(g) else str(g) for g in scored["generator"]],
            "score": scored["score"].astype(float).tolist(),
        },
    }


def summarize_and_log(
    folds: Sequence[Mapping[str, Any]],
    *,
    n_resamples: int,
    confidence_level: float,
    seed: int,
    run_name: str = "generalization",
) -> dict[str, Any]:
    """The matrices, the per-variant summary and the transfer table, logged to the pipeline's run.

    Logged: ``tables/generalization/cells.csv`` (every detector x test generator),
    ``tables/generalization/<backbone>_<variant>_<metric>.{csv,md}`` (the matrices),
    ``plots/generalization/<backbone>_<metric>.png`` (heatmaps, one panel per variant),
    ``tables/generalization/summary.{csv,md}``, ``tables/generalization/transfer.{csv,md}`` and
    metrics ``generalization/<backbone>/<variant>/unseen_roc_auc`` (with ``_ci_low`` / ``_ci_high``).

    Args:
        folds: the results of ``train_and_score_fold``.
        n_resamples: bootstrap resamples per test generator (``evaluation.bootstrap_resamples``).
        confidence_level: level of the intervals (``evaluation.confidence_level``).
        seed: seed of the resampling (``evaluation.bootstrap_seed``).
        run_name: name of the MLflow run opened when called outside a pipeline.

    Returns:
        ``cells``, ``summary`` and ``transfer`` as lists of rows.
    """
    if not folds:
        raise ValueError(
            "no fold was trained: generalization.generators, backbones and variants must not be empty"
        )
    cells = cross_generator_cells(
        _scores_frame(folds),
        {_key(fold): fold["generators_trained"] for fold in folds},
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        seed=seed,
    )
    cells.table = _in_fold_order(cells.table, folds)
    summary, transfer = variant_summary(cells), transfer_table(cells)
    import mlflow

    with pipeline_run(run_name):
        mlflow.set_tag("facetransfer.run_kind", "generalization")
        mlflow.log_text(cells.table.to_csv(index=False), "tables/generalization/cells.csv")
        _log_matrices(cells, folds)
        for stem, frame in (("summary", summary), ("transfer", transfer)):
            mlflow.log_text(frame.to_csv(index=False), f"tables/generalization/{stem}.csv")
            mlflow.log_text(interval_markdown(frame), f"tables/generalization/{stem}.md")
        mlflow.log_metrics(summary_metrics(cells))
    logger.info("mean ROC-AUC on unseen generators:\n%s", interval_markdown(transfer))
    return to_jsonable(
        {
            "cells": cells.table.to_dict("records"),
            "summary": summary.to_dict("records"),
            "transfer": transfer.to_dict("records"),
        }
    )


def _key(fold: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(fold[key]) for key in CROSS_GENERATOR_KEYS)


def _in_fold_order(table: pd.DataFrame, folds: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``table``'s rows in the order the folds were laid out (backbones, then variants, as configured)."""
    order = {_key(fold): position for position, fold in enumerate(folds)}
    positions = [order[key] for key in table[list(CROSS_GENERATOR_KEYS)].itertuples(index=False, name=None)]
    return (
        table.assign(fold_order=positions).sort_values("fold_order", kind="stable").drop(columns="fold_order")
    )


def _scores_frame(folds: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frames = [
        pd.DataFrame(fold["scores"]).assign(**dict(zip(CROSS_GENERATOR_KEYS, _key(fold), strict=True)))
        for fold in folds
    ]
    return pd.concat(frames, ignore_index=True)


def _row_labels(
    folds: Sequence[Mapping[str, Any]], backbone: str, variant: str
) -> dict[tuple[str, ...], str]:
    """Detector key -> matrix row label (``all but tconv``, ``only tconv``) of one backbone and variant."""
    return {
        _key(fold): SETTING_LABELS[fold["setting"]].format(fold["held_generator"])
        for fold in folds
        if fold["backbone"] == backbone and fold["variant"] == variant
    }


def _matrix_note(table: pd.DataFrame) -> str:
    """What the rows, columns and outlined cells of a matrix are, with the images behind each column."""
    counts = table.drop_duplicates("test_generator").set_index("test_generator")
    fakes = ", ".join(f"{generator} {count}" for generator, count in counts["fake_images"].items())
    return (
        "Rows: what the detector was trained on (with the real training images). Columns: the test "
        f"generator, its test images with every real test image ({fakes} generated; "
        f"{int(counts['real_images'].iloc[0])} real). A column is unseen by a row when that generator "
        "was not in its training data (leave-one-out: the diagonal).\n\n"
    )


def _log_matrices(cells: CrossGeneratorCells, folds: Sequence[Mapping[str, Any]]) -> None:
    """Per backbone and variant, each metric's matrix (CSV, markdown); per backbone and metric, a heatmap."""
    import mlflow

    table, note = cells.table, _matrix_note(cells.table)
    families = list(dict.fromkeys((str(fold["backbone"]), str(fold["variant"])) for fold in folds))
    # Columns in the order of the folds (so leave-one-out's unseen cells form the diagonal), then the rest.
    held = [str(fold["held_generator"]) for fold in folds]
    generators = list(dict.fromkeys([*held, *sorted(table["test_generator"].unique())]))
    for backbone in dict.fromkeys(backbone for backbone, _ in families):
        for metric in MATRIX_METRICS:
            panels = {}
            for variant in (v for b, v in families if b == backbone):
                labels = _row_labels(folds, backbone, variant)
                matrix = interval_matrix(table, metric, labels, generators)
                stem = f"tables/generalization/{backbone}_{variant}_{metric}"
                mlflow.log_text(matrix.to_csv(index=False), f"{stem}.csv")
                mlflow.log_text(note + interval_markdown(matrix), f"{stem}.md")
                panels[f"TL {VARIANT_LABELS.get(variant, variant)}"] = (
                    cell_matrix(table, metric, labels, generators),
                    cell_matrix(table, "unseen", labels, generators).astype(bool),
                )
            title = f"{BACKBONE_LABELS.get(backbone, backbone)}: {METRIC_LABELS.get(metric, metric)}"
            log_figure(
                cross_generator_figure(panels, metric=metric, title=title),
                f"plots/generalization/{backbone}_{metric}.png",
            )
