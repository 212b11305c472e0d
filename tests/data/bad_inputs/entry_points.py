"""Run a case through its real entry point and record what came out (nothing mocked).

* ``ingestion``: the pipeline's ingestion (``facetransfer.workflow.ingestion.ingest``), then the
  manifest, quarantine and report are written to files, as the pipeline stores them.
* ``validation``: ingestion, the leakage-free split and the great-expectations suite.
* ``add-generator``: ``facetransfer.ingestion.add_generator.add_generator`` into a DVC repository.
* ``predict`` and ``status``: the ``facetransfer`` CLI against an MLflow registry (SQLite) that
  holds a tiny champion detector, or the registry the case names.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import pandas as pd

from facetransfer.config import DataSettings
from facetransfer.ingestion.errors import DataLayerError
from facetransfer.ingestion.manifest import ManifestResult
from facetransfer.ingestion.sources import SourceConfig
from tests.data.bad_inputs.corpus import BadInput, Built, Observation

SMALL_DATA_BOUNDS = {
    "min_width": 8,
    "min_height": 8,
    "min_images_per_generator": 4,
    "min_images_per_source": 4,
}
"""Validation bounds sized for the corpus's few 16 px images (the checks themselves are the real ones)."""

SPLIT_RATIOS = (0.34, 0.33, 0.33)
"""Even splits, so that every split holds both labels with 8 images per source."""


class Resources:
    """What some entry points need, made once per session and only when first asked for."""

    def __init__(self, base: Path) -> None:
        self.base = base

    @cached_property
    def registry_uri(self) -> str:
        """An MLflow registry (SQLite) whose ``deepfake-detector@champion`` is a tiny detector."""
        return register_tiny_detector(self.base / "registry")

    @cached_property
    def dvc_repo(self) -> Path:
        """A DVC repository with an ArtiFact root in ``data/detection`` (no remote: nothing is pushed)."""
        from dvc.repo import Repo

        from tests.data.bad_inputs.builders import artifact_root

        repo = self.base / "dvc-repo"
        repo.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        Repo.init(str(repo))
        artifact_root(repo / "data")
        (repo / "data" / "artifact").rename(repo / "data" / "detection")
        return repo


def register_tiny_detector(folder: Path) -> str:
    """Register an (untrained) detector as a serving model, as the pipeline does; return the registry URI.

    It is a real MobileNetV3 detector behind the real image-taking pyfunc, so ``predict`` takes
    its one scoring path; its weights are random, which the corpus does not mind.
    """
    import mlflow
    import torch
    from mlflow.tracking import MlflowClient

    from facetransfer.inputs.preprocessing import Preprocessing
    from facetransfer.models import build_detector
    from facetransfer.models.weights import save_weights
    from facetransfer.registry.client import CHAMPION, DETECTOR_MODEL
    from facetransfer.scoring.publish import log_serving_model
    from facetransfer.scoring.pyfunc import ServingSettings
    from facetransfer.tracking.store import ensure_experiment

    folder.mkdir(parents=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    experiment_id = ensure_experiment(uri, folder)
    client = MlflowClient(uri)
    torch.manual_seed(0)
    weights = save_weights(build_detector("mobilenet_v3_large", "none").eval(), folder / "weights")
    # Detectors read multiples of 32 px; the corpus's 16 px images are enlarged to it.
    preprocessing = Preprocessing.for_backbone("mobilenet_v3_large", 32)
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment_id) as run:
            settings = ServingSettings(DETECTOR_MODEL, 0.5, preprocessing, run_id=run.info.run_id)
            info = log_serving_model(detector_folder=weights, segmenter_folder=None, settings=settings)
        client.create_registered_model(DETECTOR_MODEL)
        tags = {"threshold": "0.5", "preprocessing": json.dumps(preprocessing.to_dict())}
        version = client.create_model_version(
            DETECTOR_MODEL, info.model_uri, run.info.run_id, tags=tags, model_id=info.model_id
        )
        client.set_registered_model_alias(DETECTOR_MODEL, CHAMPION, version.version)
    finally:
        mlflow.set_tracking_uri("")
    return uri


def _settings(built: Built, **extra: object) -> tuple[DataSettings, str]:
    """Run settings holding the case's sources; the other kind gets a placeholder never read."""
    configs = [SourceConfig.model_validate(source) for source in built.sources]
    segmentation = [config for config in configs if config.is_segmentation]
    detection = [config for config in configs if not config.is_segmentation]
    unused = {
        "segmentation": SourceConfig(name="unused", format="mut1ny", path="unused"),
        "detection": SourceConfig(name="unused", format="folder", path="unused", role="real"),
    }
    settings = DataSettings(
        root=".",
        cache_dir=".cache",
        segmentation_sources=segmentation or [unused["segmentation"]],
        detection_sources=detection or [unused["detection"]],
        **extra,
    )
    return settings, "segmentation" if segmentation else "detection"


def run_ingestion(built: Built, folder: Path, resources: Resources) -> Observation:
    """The pipeline's ingestion, then its outputs written to files (parquet, JSON)."""
    from facetransfer.workflow.ingestion import ingest

    settings, kind = _settings(built)
    try:
        manifest, quarantine, report = ingest(settings, kind, base=folder)
    except (DataLayerError, ValueError) as error:
        return Observation(error=str(error))
    ManifestResult(manifest, quarantine, report).write(folder / "outputs")
    flagged = [(row.check, f"{row.path}: {row.reason}") for row in quarantine.itertuples()]
    return Observation(flagged=flagged, passed=len(manifest), report=json.dumps(report, default=str))


def run_validation(built: Built, folder: Path, resources: Resources) -> Observation:
    """Ingestion, split and the great-expectations suite of the data's kind."""
    from facetransfer.validation import (
        ValidationBounds,
        validate_detection_manifest,
        validate_segmentation_data,
    )
    from facetransfer.workflow.ingestion import ingest, split

    settings, kind = _settings(built, split_ratios=SPLIT_RATIOS)
    try:
        manifest, quarantine, _ = ingest(settings, kind, base=folder)
    except (DataLayerError, ValueError) as error:
        return Observation(error=str(error))
    frame, _ = split(manifest, settings.split_ratios, settings.split_seed)
    bounds = ValidationBounds(**{**SMALL_DATA_BOUNDS, **built.bounds})
    if kind == "segmentation":  # as the pipeline's step: each source's own unknown-colour tolerance
        tolerances = {source.name: source.unknown_color_tolerance for source in settings.segmentation_sources}
        result = validate_segmentation_data(frame, bounds=bounds, unknown_color_tolerances=tolerances)
    else:
        result = validate_detection_manifest(frame, bounds)
    flagged = [(row.check, f"{row.path}: {row.reason}") for row in quarantine.itertuples()]
    failed = [outcome.name for outcome in result.failed]
    return Observation(flagged=flagged, passed=len(frame), failed_expectations=failed, report=str(failed))


def run_add_generator(built: Built, folder: Path, resources: Resources) -> Observation:
    """``add_generator`` of the incoming folder into the corpus DVC repository (replacing the last one)."""
    from facetransfer.ingestion.add_generator import add_generator

    try:
        report = add_generator(
            "incoming", built.inputs[0], repo_root=resources.dvc_repo, overwrite=True, push=False
        )
    except (DataLayerError, ValueError, FileNotFoundError) as error:
        return Observation(error=str(error))
    copied = (report.target_dir / "metadata.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert all(line.split(",")[1] == "1" for line in copied) and len(copied) == report.files_added
    flagged = [(entry.check.value, f"{entry.path}: {entry.reason}") for entry in report.quarantined]
    return Observation(flagged=flagged, passed=report.files_added, report=report.describe())


def _cli(arguments: list[str], tracking_uri: str) -> tuple[int, str, str]:
    """Run ``facetransfer ARGUMENTS`` in-process; exit code, stdout and all output."""
    import mlflow
    from click.testing import CliRunner

    from facetransfer.cli import main

    # No retries: the corpus checks what an outage gives, test_registry_outage how long it takes.
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    try:
        result = CliRunner().invoke(main, arguments, env=env)
    finally:
        mlflow.set_tracking_uri("")  # commands set the process-wide URI
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    output = result.output + (f"\n{result.exception!r}" if crashed else "")
    return result.exit_code, result.stdout, output


def run_predict(built: Built, folder: Path, resources: Resources) -> Observation:
    """``facetransfer predict INPUTS`` against the corpus registry (or the case's)."""
    uri = built.tracking_uri or resources.registry_uri
    code, stdout, output = _cli(
        ["predict", *map(str, built.inputs), "--root", str(folder), *built.options], uri
    )
    if code != 0:
        return Observation(error=output)
    frame = pd.read_csv(io.StringIO(stdout))
    flagged = [
        ("error", f"{path}: {error}")
        for path, error in zip(frame["path"], frame["error"], strict=True)
        if isinstance(error, str)
    ]
    return Observation(flagged=flagged, passed=int(frame["fake_probability"].notna().sum()), report=output)


def run_status(built: Built, folder: Path, resources: Resources) -> Observation:
    """``facetransfer status`` against the corpus registry (or the case's)."""
    uri = built.tracking_uri or resources.registry_uri
    code, _, output = _cli(["status", "--root", str(folder), *built.options], uri)
    return Observation(error=output if code != 0 else None, report=output)


RUNNERS: dict[str, Callable[[Built, Path, Resources], Observation]] = {
    "ingestion": run_ingestion,
    "validation": run_validation,
    "add-generator": run_add_generator,
    "predict": run_predict,
    "status": run_status,
}


def run_case(case: BadInput, folder: Path, resources: Resources) -> tuple[Built, Observation]:
    """Build ``case`` in the (new) ``folder`` and give it to its entry point."""
    folder.mkdir(parents=True)
    built = case.build(folder)
    return built, RUNNERS[case.entry_point](built, folder, resources)
