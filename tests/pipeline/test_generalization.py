"""End to end: generalization_pipeline (leave-one-generator-out) on tiny demo data.

A project of its own (tiny demo data, three generators, one short epoch per fold, variants "none"
and "last"), run twice through the real ZenML + MLflow stack: the first run trains the segmenter
and the six fold detectors and logs the matrices; the second takes the segmenter and the folds
from ZenML's cache. A fast check keeps configs/generalization.yaml's segmenter inputs equal to the
main job's, which is what lets its segmenters come from the main job's cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from facetransfer.workflow.generalization import GeneralizationSettings
from tests.pipeline.project import BIN, REPO, TINY_DEMO, Project

BACKBONE = "mobilenet_v3_large"
GENERATORS = ["tconv", "nearest_conv", "bilinear_conv"]
VARIANTS = ["none", "last"]
SEGMENTER_STEP = f"train_segmenter_{BACKBONE}"
FOLD_STEPS = [f"generalization_{BACKBONE}_{v}_leave_out_{g}" for v in VARIANTS for g in GENERATORS]

STEP_STATUSES = """
import json
from zenml.client import Client
run = Client().get_pipeline("generalization_pipeline").last_run
print(json.dumps({"run": str(run.status), "steps": {s.name: str(s.status) for s in run.steps.values()}}))
"""


def test_generalization_config_keeps_the_main_jobs_segmenter_inputs() -> None:
    main = yaml.safe_load((REPO / "zenml_config.yaml").read_text())["parameters"]
    generalization = yaml.safe_load((REPO / "configs" / "generalization.yaml").read_text())["parameters"]
    for block in ("data", "validation", "faces", "segmenter"):
        assert generalization.get(block) == main.get(block), f"{block} differs from zenml_config.yaml"
    settings = GeneralizationSettings.model_validate(generalization["generalization"])
    assert "pixel_shuffle" in settings.generators and len(settings.folds()) == len(settings.generators)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project.create(tmp_path_factory.mktemp("generalization"))
    project.facetransfer("demo-data", "--out", "data", *TINY_DEMO)
    project.facetransfer("setup")
    project.write_config(
        "configs/generalization_tiny.yaml",
        "configs/tiny.yaml",
        generalization={"generators": GENERATORS},
        variants=VARIANTS,
        **{"evaluation.bootstrap_resamples": 200},
    )
    return project


def run_generalization(project: Project) -> dict:
    """Run the pipeline on the tiny config; the statuses of the run and of each step."""
    project.run(
        str(BIN / "zenml"),
        "pipeline",
        "run",
        "pipelines.generalization_pipeline",
        "-c",
        "configs/generalization_tiny.yaml",
    )
    result = project.run(str(BIN / "python"), "-c", STEP_STATUSES)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_leave_one_out_matrix_summary_and_cached_segmenter(project: Project) -> None:
    first = run_generalization(project)
    assert first["run"] == "completed"
    assert first["steps"][SEGMENTER_STEP] == "completed"
    assert all(first["steps"][step] == "completed" for step in FOLD_STEPS), first["steps"]

    client = project.mlflow()
    experiment = client.get_experiment_by_name("transfer_pipeline")
    (parent,) = client.search_runs(
        [experiment.experiment_id], "tags.`facetransfer.run_kind` = 'generalization'"
    )
    nested = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    folds = [run for run in nested if "generalization.setting" in run.data.tags]
    assert sorted(run.info.run_name for run in folds) == sorted(
        f"generalization-{BACKBONE}-{v}-leave_out-{g}" for v in VARIANTS for g in GENERATORS
    )
    for run in folds:  # each fold trained without its generator
        held = run.data.tags["generalization.generator"]
        assert run.data.tags["data.generators"].split(",") == sorted(set(GENERATORS) - {held})

    def artifact(path: str) -> Path:
        return Path(client.download_artifacts(parent.info.run_id, path))

    for variant in VARIANTS:
        matrix = pd.read_csv(artifact(f"tables/generalization/{BACKBONE}_{variant}_roc_auc.csv"))
        assert matrix["trained on"].tolist() == [f"all but {g}" for g in GENERATORS]
        assert matrix.shape == (len(GENERATORS), 1 + 3 * len(GENERATORS))  # value + interval per generator
        for generator in GENERATORS:
            held_out = matrix.loc[matrix["trained on"] == f"all but {generator}", generator].item()
            assert 0.0 <= held_out <= 1.0, (variant, generator, held_out)
    cells = pd.read_csv(artifact("tables/generalization/cells.csv"))
    assert len(cells) == len(VARIANTS) * len(GENERATORS) ** 2
    assert (cells["unseen"] == (cells["held_generator"] == cells["test_generator"])).all()

    summary = artifact("tables/generalization/summary.md").read_text(encoding="utf-8")
    assert "ROC-AUC unseen" in summary and "| —" in summary and "| Last" in summary
    transfer = pd.read_csv(artifact("tables/generalization/transfer.csv"))
    assert transfer["TL"].tolist() == ["—", "Last"]
    last = transfer.set_index("TL").loc["Last"]
    assert (
        last["mean ROC-AUC unseen_ci_low"]
        <= last["mean ROC-AUC unseen"]
        <= last["mean ROC-AUC unseen_ci_high"]
    )
    assert isinstance(last["reading"], str) and last["reading"]
    assert 0.0 <= parent.data.metrics[f"generalization/{BACKBONE}/none/unseen_roc_auc"] <= 1.0
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots/generalization")}
    assert f"plots/generalization/{BACKBONE}_roc_auc.png" in plots

    second = run_generalization(project)
    assert second["run"] == "completed"
    assert second["steps"][SEGMENTER_STEP] == "cached"
    assert all(second["steps"][step] == "cached" for step in FOLD_STEPS), second["steps"]
    assert second["steps"]["summarize_generalization"] == "completed"
