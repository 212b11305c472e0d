"""Step: one cross-generator fold: train without (or only on) a generator, score the test split."""

from typing import Annotated

import pandas as pd
from torch import nn
from zenml import step

from facetransfer.config import ModelTrainingSettings
from facetransfer.workflow.generalization import Setting
from facetransfer.workflow.generalization import train_and_score_fold as train_and_score
from steps.caching import library_cache_policy, step_library_code
from steps.context import checkpoint_dir, provenance_tags, sample_cache_dir

library_code = step_library_code(__name__)


@step(experiment_tracker=True, cache_policy=library_cache_policy(__name__))
def train_and_score_fold(
    manifest: pd.DataFrame,
    backbone: str,
    variant: str,
    setting: Setting,
    generator: str,
    settings: ModelTrainingSettings,
    cache_dir: str,
    batch_size: int,
    segmenter: nn.Module | None = None,
    segmenter_report: dict | None = None,
) -> Annotated[dict, "generalization_{backbone}_{variant}_{setting}_{generator}"]:
    """Train a detector on the fold's training data and score every test image with it.

    Logged as MLflow run ``generalization-<backbone>-<variant>-<setting>-<generator>`` (nested
    under the pipeline's run). Only the scores leave the step (no model artifact): the summary
    needs nothing else, and the model stays in its MLflow run.

    Args:
        manifest: validated, split detection manifest (all generators).
        backbone: ``resnet50`` or ``mobilenet_v3_large``.
        variant: ``none``, ``last`` or ``all``.
        setting: ``leave_out`` (train without ``generator``) or ``train_on_one`` (only ``generator``).
        generator: the fold's generator.
        settings: detector training settings.
        cache_dir: the data cache folder (``data.cache_location``).
        batch_size: scoring batch size (``evaluation.batch_size``).
        segmenter: the trained segmenter of ``backbone`` (not given for ``none``).
        segmenter_report: the segmenter's training report (its MLflow run, for lineage).

    Returns:
        The fold, the generators it trained on, its MLflow run and the per-image test scores.
    """
    return train_and_score(
        manifest,
        segmenter,
        backbone=backbone,
        variant=variant,
        setting=setting,
        generator=generator,
        settings=settings,
        batch_size=batch_size,
        checkpoint_dir=checkpoint_dir(f"generalization-{backbone}-{variant}-{setting}-{generator}"),
        tags=provenance_tags(),
        segmenter_run_id=segmenter_report["run_id"] if segmenter_report else None,
        sample_cache_dir=sample_cache_dir(cache_dir),
    )
