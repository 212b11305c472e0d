"""inference_pipeline: score a folder of images with the registered champion detector.

    score_images (serving model of deepfake-detector@champion) -> report_scores (MLflow run)

Wiring only. Run with ``zenml pipeline run pipelines.inference_pipeline -c configs/inference.yaml``.
The scored table is the ZenML artifact ``scored_images`` (parquet) and the MLflow run's
``scores.parquet`` (experiment ``inference_pipeline``).
"""

from zenml import pipeline

from facetransfer.registry.client import CHAMPION, DETECTOR_MODEL
from steps.inference.report_scores import report_scores
from steps.inference.score_images import score_images


@pipeline(enable_cache=False)
def inference_pipeline(images: str, model_name: str = DETECTOR_MODEL, alias: str = CHAMPION) -> None:
    """Score every image under ``images`` and report the batch.

    Args:
        images: folder to score, relative to the project root (any layout; ``real/`` and
            ``fake/`` sub-folders add detection metrics).
        model_name: registered detector.
        alias: registry alias of the version to use.
    """
    scored = score_images(images, model_name, alias)
    report_scores(scored, images)
