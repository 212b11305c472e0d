"""Step: train the DeepLabV3+ face parser of one backbone."""

from typing import Annotated

import pandas as pd
from torch import nn
from zenml import step

from facetransfer.classes import get_scheme
from facetransfer.config import ModelTrainingSettings
from facetransfer.workflow.ingestion import manifest_fingerprint
from facetransfer.workflow.segmenter import train_and_log_segmenter
from steps.caching import library_cache_policy, step_library_code
from steps.context import checkpoint_dir, provenance_tags, sample_cache_dir

library_code = step_library_code(__name__)


@step(experiment_tracker=True, cache_policy=library_cache_policy(__name__))
def train_segmenter(
    manifest: pd.DataFrame,
    backbone: str,
    settings: ModelTrainingSettings,
    class_scheme: str,
    cache_dir: str,
) -> tuple[Annotated[nn.Module, "segmenter_{backbone}"], Annotated[dict, "segmenter_{backbone}_report"]]:
    """Train on the train split with early stopping on the validation loss (GPU if present).

    Logged as MLflow run ``segmenter-<backbone>`` (params, per-epoch metrics, model).

    Args:
        manifest: validated, split segmentation manifest.
        backbone: ``resnet50`` or ``mobilenet_v3_large``.
        settings: segmenter training settings.
        class_scheme: the masks' class scheme (``data.class_scheme``).
        cache_dir: the data cache folder (``data.cache_location``); decoded samples go to its ``samples/``.

    Returns:
        The trained segmenter and its training report.
    """
    model, report = train_and_log_segmenter(
        manifest,
        backbone=backbone,
        settings=settings,
        scheme=get_scheme(class_scheme),
        checkpoint_dir=checkpoint_dir(f"segmenter-{backbone}"),
        tags=provenance_tags(**{"data.hash": manifest_fingerprint(manifest)}),
        sample_cache_dir=sample_cache_dir(cache_dir),
    )
    return model, report
