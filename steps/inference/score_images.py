"""Step: score every image of a folder with the registered champion's serving model."""

from typing import Annotated

import mlflow
import pandas as pd
from zenml import step

from facetransfer.scoring.batch import score_folder
from steps.context import project_root


@step(enable_cache=False, experiment_tracker=True)
def score_images(images: str, model_name: str, alias: str) -> Annotated[pd.DataFrame, "scored_images"]:
    """Score the images under ``images`` (relative to the project root) with ``model_name@alias``.

    Never cached: the folder's content and the alias can change between runs. Unreadable files
    become rows with an ``error``; the batch goes on.

    Returns:
        One row per image: path, folder, label (from ``real/``/``fake/``), score columns.
    """
    folder = project_root() / images
    return score_folder(folder, model_name=model_name, alias=alias, tracking_uri=mlflow.get_tracking_uri())
