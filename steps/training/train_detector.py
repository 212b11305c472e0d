"""Step: train one detector variant (no transfer, transfer "last", transfer "all")."""

from typing import Annotated

import pandas as pd
from torch import nn
from zenml import step

from facetransfer.config import ModelTrainingSettings
from facetransfer.workflow.detector import detector_name, train_and_log_detector
from steps.caching import library_cache_policy, step_library_code
from steps.context import checkpoint_dir, provenance_tags, sample_cache_dir

library_code = step_library_code(__name__)


@step(experiment_tracker=True, cache_policy=library_cache_policy(__name__))
def train_detector(
    manifest: pd.DataFrame,
    backbone: str,
    variant: str,
    settings: ModelTrainingSettings,
    cache_dir: str,
    seed_in_name: bool = False,
    segmenter: nn.Module | None = None,
    segmenter_report: dict | None = None,
) -> tuple[
    Annotated[nn.Module, "detector_{backbone}_{variant}"],
    Annotated[dict, "detector_{backbone}_{variant}_report"],
]:
    """Train a real-vs-generated detector, initialised from the segmenter for ``last``/``all``.

    Logged as MLflow run ``detector-<backbone>-<variant>`` (params, per-epoch metrics, model),
    ``detector-<backbone>-<variant>-seed<k>`` with ``seed_in_name`` (one of several seeds).

    Args:
        manifest: validated, split detection manifest.
        backbone: ``resnet50`` or ``mobilenet_v3_large``.
        variant: ``none``, ``last`` or ``all``.
        settings: detector training settings.
        cache_dir: the data cache folder (``data.cache_location``); decoded samples go to its ``samples/``.
        seed_in_name: the run is one of several seeds (``detector.seeds``): its MLflow run and
            checkpoint folder are named by ``settings.train.seed`` too.
        segmenter: the trained segmenter of ``backbone`` (not given for ``none``, so that
            variant does not depend on, or rerun with, the segmenter).
        segmenter_report: the segmenter's training report (its MLflow run, for lineage).

    Returns:
        The trained detector and its training report.
    """
    seed = settings.train.seed if seed_in_name else None
    model, report = train_and_log_detector(
        manifest,
        segmenter,
        backbone=backbone,
        variant=variant,
        settings=settings,
        checkpoint_dir=checkpoint_dir(detector_name(backbone, variant, seed)),
        seed_in_name=seed_in_name,
        tags=provenance_tags(),
        segmenter_run_id=segmenter_report["run_id"] if segmenter_report else None,
        sample_cache_dir=sample_cache_dir(cache_dir),
    )
    return model, report
