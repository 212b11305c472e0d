"""The stage functions the ZenML steps call, run without ZenML against a real MLflow store.

Tiny demo data, one short epoch: checks the wiring between stages (reports, MLflow runs, tables),
not model quality.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from facetransfer.classes import MUT1NY_14
from facetransfer.config import DataSettings, EvaluationSettings, ModelTrainingSettings
from facetransfer.demo import generate_demo_data
from facetransfer.models.weights import download_weights, load_weights
from facetransfer.training import TrainConfig
from facetransfer.workflow.comparison import compare_and_log
from facetransfer.workflow.detector import evaluate_and_log_detector, train_and_log_detector
from facetransfer.workflow.explanation import explain_best_detector
from facetransfer.workflow.ingestion import ingest, manifest_fingerprint, run_data_identity, split
from facetransfer.workflow.segmenter import evaluate_and_log_segmenter, train_and_log_segmenter

IDENTITY = r"(?P<identity>id\d+)_\d+\.\w+$"


@pytest.fixture(scope="module")
def data_settings(tmp_path_factory: pytest.TempPathFactory) -> DataSettings:
    root = tmp_path_factory.mktemp("workflow")
    generate_demo_data(
        root / "data",
        segmentation_images=24,
        real_images={"ffhq": 16, "celebahq": 16},
        fake_images_per_generator=12,
    )
    return DataSettings(
        root=str(root),
        segmentation_sources=[
            {
                "name": "seg",
                "format": "mut1ny",
                "path": "data/segmentation",
                "role": "segmentation",
                "identity_pattern": IDENTITY,
            }
        ],
        detection_sources=[
            {
                "name": "det",
                "format": "artifact",
                "path": "data/detection",
                "real": ["ffhq", "celebahq"],
                "identity_pattern": IDENTITY,
            }
        ],
    )


def test_ingest_and_split_are_reproducible_and_hash_the_content(
    data_settings: DataSettings, tmp_path
) -> None:
    manifest, quarantine, report = ingest(data_settings, "detection", base=tmp_path)
    assert quarantine.empty and manifest["split"].isna().all()
    assert report["generators"] == ["bilinear_conv", "nearest_conv", "tconv"]
    # The data hash is the content: the same files listed elsewhere or in another order hash the
    # same; one image relabelled does not.
    moved = manifest.assign(path=["/elsewhere/" + Path(p).name for p in manifest["path"]]).iloc[::-1]
    assert manifest_fingerprint(moved) == report["data_hash"]
    relabelled = manifest.copy()
    relabelled.loc[relabelled.index[0], "label"] = 1 - relabelled.loc[relabelled.index[0], "label"]
    assert manifest_fingerprint(relabelled) != report["data_hash"]
    first, split_report = split(manifest, data_settings.split_ratios, data_settings.split_seed)
    second, _ = split(manifest, data_settings.split_ratios, data_settings.split_seed)
    assert first["split"].tolist() == second["split"].tolist()
    assert set(split_report["by_split"]) == {"train", "val", "test"}
    assert report["data_identity"] == f"content:{report['data_hash']}"  # no DVC pointer here
    assert run_data_identity("dvc:m", "dvc:m") == "dvc:m"
    mixed = run_data_identity("dvc:m", report["data_identity"])
    assert mixed.startswith("combined:") and mixed == run_data_identity(report["data_identity"], "dvc:m")


def test_stages_train_evaluate_and_compare_with_nested_runs(
    data_settings: DataSettings, mlflow_client, tmp_path
) -> None:
    base = tmp_path
    SPLIT = (data_settings.split_ratios, data_settings.split_seed)  # noqa: N806
    segmentation, _ = split(ingest(data_settings, "segmentation", base=base)[0], *SPLIT)
    detection, _ = split(ingest(data_settings, "detection", base=base)[0], *SPLIT)
    settings = ModelTrainingSettings(
        pretrained=False, train=TrainConfig(epochs=1, batch_size=4, image_size=64, max_batches_per_epoch=1)
    )
    evaluation = EvaluationSettings(batch_size=16, overlay_examples=1)
    with mlflow.start_run(run_name="pipeline") as parent:
        segmenter, seg_report = train_and_log_segmenter(
            segmentation,
            backbone="mobilenet_v3_large",
            settings=settings,
            scheme=MUT1NY_14,
            checkpoint_dir=tmp_path / "ck-seg",
            tags={"data.hash": "x"},
        )
        seg_report = evaluate_and_log_segmenter(
            segmenter,
            segmentation,
            seg_report,
            scheme=MUT1NY_14,
            batch_size=evaluation.batch_size,
            overlay_examples=evaluation.overlay_examples,
        )
        _, det_report = train_and_log_detector(
            detection,
            segmenter,
            backbone="mobilenet_v3_large",
            variant="last",
            settings=settings,
            checkpoint_dir=tmp_path / "ck-det",
            tags={},
            segmenter_run_id=seg_report["run_id"],
        )
        detector = load_weights(download_weights(det_report["model_uri"]), kind="detector")
        det_report = evaluate_and_log_detector(detector, detection, det_report, settings=evaluation)
        comparison = compare_and_log([seg_report], [det_report], selection_metric="f1")
        regions = explain_best_detector(comparison, detection, images_per_generator=1)

    assert not (tmp_path / "ck-seg").exists(), "checkpoints are removed once the model is logged"
    assert 0 <= seg_report["test"]["pixel_accuracy"] <= 1 and seg_report["val"]["pixel_accuracy"] is not None
    test_generators = set(detection.loc[detection["split"] == "test", "generator"].dropna())
    assert test_generators and set(det_report["test"]["per_generator"]) == test_generators
    assert 0 < det_report["threshold"] < 1
    assert comparison["best_detector"]["run_id"] == det_report["run_id"]
    assert comparison["table_2"][0]["TL"] == "Last"
    for report in (seg_report, det_report):
        run = mlflow_client.get_run(report["run_id"])
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    detector_run = mlflow_client.get_run(det_report["run_id"])
    assert detector_run.data.tags["transferred_from_run"] == seg_report["run_id"]
    assert {"test_f1", "val_f1", "test_tconv_f1", "train_loss"} <= set(detector_run.data.metrics)
    parent_files = {a.path for a in mlflow_client.list_artifacts(parent.info.run_id, "tables")}
    assert {"tables/table_2_detection.md", "tables/region_attribution_per_generator.csv"} <= parent_files
    assert {row["group"] for row in regions["table"]} == {*test_generators, "real"}
    assert all(row["images"] == 1 for row in regions["table"])
    assert (
        mlflow_client.get_run(parent.info.run_id).data.metrics["explain/images"] == len(test_generators) + 1
    )
