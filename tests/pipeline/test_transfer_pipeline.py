"""End to end: transfer_pipeline on tiny demo data through the real local stack.

ZenML (local orchestrator, SQLite store), MLflow (SQLite tracking + registry), DVC (local
remote) and great-expectations all run for real, in a temporary copy of the project. The tests
run in order and share one project (``conftest.py``, also used by the serving tests): first run,
identical rerun, a changed detector parameter, then a run whose data fails validation.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from facetransfer.workflow.comparison import best_detector
from tests.pipeline.project import Project

pytestmark = pytest.mark.slow

BACKBONE = "mobilenet_v3_large"
TRAINING_STEPS = [f"train_segmenter_{BACKBONE}"] + [
    f"train_detector_{BACKBONE}_{v}" for v in ("none", "last", "all")
]


@pytest.fixture(scope="module")
def project(trained_project: Project) -> Project:
    """The shared project (``conftest.py``), whose first ``transfer_pipeline`` run has finished."""
    return trained_project


def test_first_run_trains_logs_and_registers_a_champion(project: Project) -> None:
    status = project.first_run
    assert status["run"] == "completed"
    assert all(status["steps"][step] == "completed" for step in TRAINING_STEPS)

    client = project.mlflow()
    experiment = client.get_experiment_by_name("transfer_pipeline")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    expected = {f"segmenter-{BACKBONE}", *(f"detector-{BACKBONE}-{v}" for v in ("none", "last", "all"))}
    assert expected <= set(runs)
    segmenter = runs[f"segmenter-{BACKBONE}"]
    pixel_accuracy = segmenter.data.metrics["test_pixel_accuracy"]
    assert segmenter.data.params["pretrained_loaded"] == "False"  # no weights in the test's torch cache
    for variant in ("none", "last", "all"):
        detector = runs[f"detector-{BACKBONE}-{variant}"]
        for metric in ("test_accuracy", "test_precision", "test_recall", "test_f1", "test_roc_auc", "val_f1"):
            assert metric in detector.data.metrics, (variant, metric)
        assert "train_loss" in detector.data.metrics and "val_loss" in detector.data.metrics
        assert detector.data.tags["data.hash"] and detector.data.tags["zenml.run_id"]
        assert detector.data.tags.get("mlflow.parentRunId"), "model runs are nested under the pipeline run"
        artifacts = {a.path for a in client.list_artifacts(detector.info.run_id, "plots")}
        assert {"plots/confusion_matrix.png", "plots/roc_curves.png"} <= artifacts
    parent_id = runs[f"detector-{BACKBONE}-all"].data.tags["mlflow.parentRunId"]
    tables = {a.path for a in client.list_artifacts(parent_id, "tables")}
    assert {
        "tables/table_2_detection.csv",
        "tables/table_2_detection.md",
        "tables/table_1_segmentation.csv",
    } <= tables
    table_2 = client.download_artifacts(parent_id, "tables/table_2_detection.md")
    text = Path(table_2).read_text(encoding="utf-8")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()[2:]]
    assert [row[:2] for row in rows] == [["MobileNetV3 Large", v] for v in ("—", "Last", "All")]
    regions = pd.read_csv(client.download_artifacts(parent_id, "tables/region_attribution_per_generator.csv"))
    assert set(regions["group"]) == {"tconv", "nearest_conv", "bilinear_conv", "real"}
    assert regions["images"].between(1, 2).all() and "skin" in regions.columns  # tiny.yaml: at most 2
    parent_metrics = client.get_run(parent_id).data.metrics
    assert (
        parent_metrics["explain/images"] == regions["images"].sum() and parent_metrics["explain/seconds"] > 0
    )
    assert "plots/region_attribution_per_generator.png" in {
        a.path for a in client.list_artifacts(parent_id, "plots")
    }
    validation = {a.path for a in client.list_artifacts(parent_id, "validation")}
    assert {
        "validation/detection",
        "validation/segmentation",
        "validation/detection_summary.json",
    } <= validation
    report = Path(client.download_artifacts(parent_id, "validation/detection/index.html")).read_text()
    words = " ".join(re.sub(r"<[^>]+>", " ", report).split())
    assert "Status: Succeeded" in words and "Status: Failed" not in words  # GX Data Docs, every table
    data_artifacts = {a.path for a in client.list_artifacts(parent_id, "data")}
    assert {"data/detection_quarantine.csv", "data/detection_sources.json"} <= data_artifacts
    sources = client.download_artifacts(parent_id, "data/detection_sources.json")
    assert "target_mismatches" in Path(sources).read_text(encoding="utf-8")

    champion = client.get_model_version_by_alias("deepfake-detector", "champion")
    assert champion.tags["promotion.decision"] == "promoted"
    segmenter_champion = client.get_model_version_by_alias("face-segmenter", "champion")
    assert str(segmenter_champion.version) == champion.tags["segmenter_version"]
    # One test pixel accuracy everywhere it is reported: the model run, Table 1, the registry.
    table_1 = pd.read_csv(client.download_artifacts(parent_id, "tables/table_1_segmentation.csv"))
    assert table_1["Accuracy"].iloc[0] == pytest.approx(pixel_accuracy, abs=1e-4)
    assert float(segmenter_champion.tags["test_pixel_accuracy"]) == pytest.approx(pixel_accuracy)
    status_text = project.facetransfer("status").stdout
    assert f"deepfake-detector@champion: version {champion.version}" in status_text


def test_predict_scores_images_with_the_champion(project: Project, tmp_path: Path) -> None:
    result = project.facetransfer("predict", "data/detection/ffhq", "data/detection/tconv")
    scored = pd.read_csv(io.StringIO(result.stdout))
    assert list(scored.columns[:1]) == ["path"] and {"fake_probability", "prediction", "face_found"} <= set(
        scored.columns
    )
    assert scored["input_index"].nunique() == 32 + 24, "every image has its row (its faces' rows)"
    champion = project.mlflow().get_model_version_by_alias("deepfake-detector", "champion")
    threshold = float(champion.tags["threshold"])
    assert scored["threshold"].to_numpy() == pytest.approx(threshold) and scored["error"].isna().all()
    # the decision is the version's threshold applied to the probability
    expected = ["fake" if p >= threshold else "real" for p in scored["fake_probability"]]
    assert scored["prediction"].tolist() == expected
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    failure = project.facetransfer("predict", str(broken), check=False)
    assert failure.returncode != 0
    assert "broken.png" in failure.stderr and "Traceback" not in failure.stderr


def test_identical_rerun_reuses_every_training_step(project: Project) -> None:
    client = project.mlflow()
    versions_before = len(client.search_model_versions("name='deepfake-detector'"))
    project.pipeline("configs/tiny.yaml")
    status = project.last_run()
    assert status["run"] == "completed"
    assert status["steps"]["ingest_detection_data"] == "completed", "ingestion always looks at the files"
    for step in TRAINING_STEPS:
        assert status["steps"][step] == "cached", step
    assert len(client.search_model_versions("name='deepfake-detector'")) == versions_before


def test_detector_settings_and_detection_sources_rerun_only_the_detectors(project: Project) -> None:
    # Each step's cache key covers the settings it reads: a new detector learning rate and
    # detection data in another folder retrain the detectors, never the segmenters.
    shutil.copytree(project.root / "data" / "detection", project.root / "elsewhere" / "detection")
    sources = yaml.safe_load((project.root / "configs" / "tiny.yaml").read_text())["parameters"]["data"]
    moved = [{**source, "path": "elsewhere/detection"} for source in sources["detection_sources"]]
    config = project.write_config(
        "detector-lr.yaml",
        "configs/tiny.yaml",
        **{"detector.train.learning_rate": 0.0005, "data.detection_sources": moved},
    )
    project.pipeline(config)
    steps = project.last_run()["steps"]
    assert steps[f"train_segmenter_{BACKBONE}"] == "cached"
    assert steps[f"evaluate_segmenter_{BACKBONE}"] == "cached"
    for variant in ("none", "last", "all"):
        assert steps[f"train_detector_{BACKBONE}_{variant}"] == "completed", variant


def test_detector_seeds_train_each_variant_per_seed_and_register_the_best_mean(project: Project) -> None:
    # Registered under their own names, so the champion the other tests serve is left alone.
    config = project.write_config(
        "seeds.yaml",
        "configs/tiny.yaml",
        **{
            "detector.seeds": [0, 1],
            "variants": ["none", "last"],
            "promotion.detector_model": "detector-seeds",
            "promotion.segmenter_model": "segmenter-seeds",
        },
    )
    project.pipeline(config)
    status = project.last_run()
    assert status["run"] == "completed"
    names = [f"{variant}_seed{seed}" for variant in ("none", "last") for seed in (0, 1)]
    for name in names:
        assert status["steps"][f"train_detector_{BACKBONE}_{name}"] in ("completed", "cached"), name
        assert status["steps"][f"evaluate_detector_{BACKBONE}_{name}"] in ("completed", "cached"), name

    client = project.mlflow()
    experiment = client.get_experiment_by_name("transfer_pipeline")
    runs = {
        run.info.run_name: run
        for run in client.search_runs([experiment.experiment_id], "attributes.run_name LIKE '%-seed%'")
    }
    expected = {f"detector-{BACKBONE}-{v}-seed{s}" for v in ("none", "last") for s in (0, 1)}
    assert expected <= set(runs)
    parents = {runs[name].data.tags["mlflow.parentRunId"] for name in expected}
    assert len(parents) == 1, "one nested run per seed, under the pipeline's run"
    for name in expected:
        assert runs[name].data.tags["seed"] == name[-1]
        assert runs[name].data.params["train.seed"] == name[-1]

    parent = parents.pop()
    text = Path(client.download_artifacts(parent, "tables/table_2_detection.md")).read_text(encoding="utf-8")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()[2:]]
    assert [row[:3] for row in rows] == [["MobileNetV3 Large", "—", "2"], ["MobileNetV3 Large", "Last", "2"]]
    assert all("±" in cell for row in rows for cell in row[3:]), "mean ± sd over the two seeds"
    per_seed = pd.read_csv(client.download_artifacts(parent, "tables/table_2_seeds.csv"))
    assert list(per_seed["Seed"]) == [0, 1, 0, 1] and "F1_ci_low" in per_seed
    mean_f1 = client.get_run(parent).data.metrics[f"table2/{BACKBONE}/last/f1"]
    last_f1 = [runs[f"detector-{BACKBONE}-last-seed{s}"].data.metrics["test_f1"] for s in (0, 1)]
    assert mean_f1 == pytest.approx(sum(last_f1) / 2)

    # The registered version: the selection rule's own function, fed what each run's evaluation
    # logged (metrics.json); the run's val_f1 shown in MLflow is the evaluation's, not the last
    # training epoch's (same name, logged per epoch at threshold 0.5).
    def evaluated(run) -> dict:
        metrics = json.loads(Path(client.download_artifacts(run.info.run_id, "metrics.json")).read_text())
        assert run.data.metrics["val_f1"] == pytest.approx(metrics["val"]["f1"])
        return {
            "backbone": BACKBONE,
            "variant": run.data.tags["variant"],
            "seed": int(run.data.tags["seed"]),
            "run_id": run.info.run_id,
            "parameters": int(run.data.params["parameters"]),
            "val": metrics["val"],
            "best_val": {"loss": run.data.metrics["best_val_loss"]},
        }

    reports = [evaluated(run) for name, run in runs.items() if name in expected]
    reports.sort(key=lambda r: (["none", "last"].index(r["variant"]), r["seed"]))  # the pipeline's order
    chosen = best_detector(reports, "f1")
    registered = client.search_model_versions("name='detector-seeds'")
    assert [version.run_id for version in registered] == [chosen["run_id"]]
    assert registered[0].tags["seed"] == str(chosen["seed"])


def test_data_failing_validation_stops_before_training(project: Project) -> None:
    config = project.write_config(
        "strict.yaml", "configs/tiny.yaml", **{"validation.min_images_per_generator": 10_000}
    )
    result = project.pipeline(config, check=False)
    assert result.returncode != 0
    assert "generator_min_images" in result.stdout + result.stderr
    status = project.last_run()
    assert status["run"] == "failed"
    assert status["steps"]["validate_detection_data"] == "failed"
    assert not any(step.startswith("train_") for step in status["steps"]), "no training step may start"
    client = project.mlflow()
    experiment = client.get_experiment_by_name("transfer_pipeline")
    failed = client.search_runs([experiment.experiment_id], "attributes.status = 'FAILED'")
    assert any("generator_min_images" in run.data.tags.get("failure.reason", "") for run in failed)


def test_a_training_step_trains_in_two_processes_when_configured(project: Project) -> None:
    config = project.write_config(
        "two-processes.yaml", "configs/tiny.yaml", **{"segmenter.train.distributed": {"nproc": 2}}
    )
    result = project.pipeline(config)
    status = project.last_run()
    assert status["run"] == "completed"
    assert status["steps"][f"train_segmenter_{BACKBONE}"] == "completed"
    assert "training in 2 processes (backend gloo)" in result.stdout + result.stderr

    client = project.mlflow()
    experiment = client.get_experiment_by_name("transfer_pipeline")
    latest = client.search_runs(
        [experiment.experiment_id],
        f"attributes.run_name = 'segmenter-{BACKBONE}'",
        order_by=["start_time DESC"],
    )[0]
    assert latest.data.params["train.distributed.nproc"] == "2"
    # Rank 0's epochs are logged once, by the step's process, into the step's run.
    assert len(client.get_metric_history(latest.info.run_id, "train_loss")) == 1
    assert "test_pixel_accuracy" in latest.data.metrics
