"""Bad-input cases, second round: scoring (registered into ``cases.CASES`` on import, see ``cases.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.data.bad_inputs.builders import IMAGE_SIZE
from tests.data.bad_inputs.cases import case
from tests.data.bad_inputs.corpus import Built, accepted, refused
from tests.data.tree_builders import random_image, write_png

LONG_STEM = "x" * 250
"""A file name of 254 characters: legal, but any prefix added to it passes the 255-byte limit."""


def register_explaining_detector(folder: Path, *, image_size: int = 32) -> str:
    """Register an (untrained) detector with its face parser as ``deepfake-detector@champion``.

    The corpus's shared registry holds a detector without a face parser; ``--explain`` needs one.

    Returns:
        The registry URI (SQLite under ``folder``).
    """
    import mlflow
    import torch
    from mlflow.tracking import MlflowClient

    from facetransfer.inputs.preprocessing import Preprocessing
    from facetransfer.models import build_detector, build_segmenter
    from facetransfer.models.weights import save_weights
    from facetransfer.registry.client import CHAMPION, DETECTOR_MODEL
    from facetransfer.scoring.publish import log_serving_model
    from facetransfer.scoring.pyfunc import ServingSettings
    from facetransfer.tracking.store import ensure_experiment

    backbone = "mobilenet_v3_large"
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    experiment_id = ensure_experiment(uri, folder)
    torch.manual_seed(0)
    detector = save_weights(build_detector(backbone, "none").eval(), folder / "detector")
    segmenter = save_weights(
        build_segmenter(backbone).eval(), folder / "segmenter", image_size=image_size, scheme="mut1ny14"
    )
    preprocessing = Preprocessing.for_backbone(backbone, image_size)
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment_id) as run:
            settings = ServingSettings(DETECTOR_MODEL, 0.5, preprocessing, run_id=run.info.run_id)
            info = log_serving_model(detector_folder=detector, segmenter_folder=segmenter, settings=settings)
        client = MlflowClient(uri)
        client.create_registered_model(DETECTOR_MODEL)
        version = client.create_model_version(
            DETECTOR_MODEL, info.model_uri, run.info.run_id, model_id=info.model_id
        )
        client.set_registered_model_alias(DETECTOR_MODEL, CHAMPION, version.version)
    finally:
        mlflow.set_tracking_uri("")
    return uri


def _two_images(folder: Path, *, first_stem: str = "good0") -> Path:
    write_png(folder / f"{first_stem}.png", random_image(800, IMAGE_SIZE))
    write_png(folder / "good1.png", random_image(801, IMAGE_SIZE))
    return folder


# ------------------------------------------------------------------------------- predict ---


@case("250-character file name, with --explain", "predict", accepted("explanations in"))
def _predict_explain_long_name(root: Path) -> Built:
    folder = _two_images(root / "to_score", first_stem=LONG_STEM)
    uri = register_explaining_detector(root / "registry")
    return Built(inputs=[folder], tracking_uri=uri, good=2, options=["--explain", str(root / "why")])


@case("--output inside a path that is a file", "predict", refused("is a file, not a folder"))
def _predict_output_under_a_file(root: Path) -> Built:
    (root / "blocker").write_text("a file where a folder should be")
    output = root / "blocker" / "scores.csv"
    return Built(inputs=[_two_images(root / "to_score")], options=["--output", str(output)])


@case("--explain inside a path that is a file", "predict", refused("is a file, not a folder"))
def _predict_explain_under_a_file(root: Path) -> Built:
    (root / "blocker").write_text("a file where a folder should be")
    explain = root / "blocker" / "why"
    return Built(inputs=[_two_images(root / "to_score")], options=["--explain", str(explain)])
