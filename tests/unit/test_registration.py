"""register_and_promote against a real MLflow registry (SQLite): both outcomes of the rule."""

from __future__ import annotations

import functools
import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from torch import nn

from facetransfer.config import PromotionSettings
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.models import DeepLabV3PlusDetector, build_segmenter
from facetransfer.models.weights import log_weights
from facetransfer.workflow.registration import register_and_promote


@functools.cache
def untrained(kind: str) -> nn.Module:
    """One untrained model per kind for the whole module (building them takes a second)."""
    if kind == "segmenter":
        return build_segmenter("mobilenet_v3_large")
    return DeepLabV3PlusDetector("mobilenet_v3_large", "all")


def logged_model(name: str) -> tuple[str, str]:
    kind = name.split("-")[0]
    with mlflow.start_run(run_name=name) as run:
        extra = {"scheme": "mut1ny14"} if kind == "segmenter" else {}
        uri = log_weights(untrained(kind), image_size=64, **extra)
    return run.info.run_id, uri


def comparison(
    overall_f1: float, per_generator: dict[str, float], robust_roc_auc: float | None = None
) -> dict:
    seg_run, seg_uri = logged_model("segmenter-mobilenet_v3_large")
    det_run, det_uri = logged_model("detector-mobilenet_v3_large-all")
    segmenter = {
        "run_id": seg_run,
        "model_uri": seg_uri,
        "backbone": "mobilenet_v3_large",
        "scheme": "mut1ny14",
        "image_size": 64,
        "test": {"pixel_accuracy": 0.9},
    }
    metrics = {
        "accuracy": overall_f1,
        "precision": overall_f1,
        "recall": overall_f1,
        "f1": overall_f1,
        "roc_auc": 0.9,
    }
    detector = {
        "run_id": det_run,
        "model_uri": det_uri,
        "backbone": "mobilenet_v3_large",
        "variant": "all",
        "threshold": 0.5,
        "image_size": 64,
        "preprocessing": Preprocessing.for_backbone("mobilenet_v3_large", 64).to_dict(),
        "generators_trained": sorted(per_generator),
        "segmenter_run_id": seg_run,
        "test": {"overall": metrics, "per_generator": {g: {"f1": v} for g, v in per_generator.items()}},
        "robustness": sweep(robust_roc_auc),
    }
    return {
        "best_detector": detector,
        "best_segmenter": segmenter,
        "segmenters": [segmenter],
        "detectors": [detector],
    }


def sweep(roc_auc: float | None) -> dict:
    """A robustness sweep whose perturbations all give ``roc_auc`` (empty when ``None``)."""
    if roc_auc is None:
        return {}
    return {p: {"roc_auc": roc_auc, "average_precision": roc_auc, "f1": 0.5} for p in ("jpeg_q75", "blur_1")}


def champion_on_current_split(
    mlflow_client: MlflowClient,
    overall_f1: float,
    per_generator: dict[str, float],
    robust_roc_auc: float | None = None,
) -> dict:
    version = mlflow_client.get_model_version_by_alias("deepfake-detector", "champion")
    return {
        "exists": True,
        "version": str(version.version),
        "evaluated_generators": sorted(per_generator),
        "test": {
            "overall": {"f1": overall_f1},
            "per_generator": {g: {"f1": v} for g, v in per_generator.items()},
        },
        "robustness": sweep(robust_roc_auc),
    }


def test_promotion_rule_decides_the_champion_alias(mlflow_client: MlflowClient) -> None:
    settings = PromotionSettings(metric="f1", tolerance=0.02)
    first = comparison(0.80, {"a": 0.95, "b": 0.70})
    decision = register_and_promote(
        first, {"exists": False}, settings=settings, provenance={"data_hash": "h1"}
    )
    assert decision["promoted"] and decision["detector_version"] == "1"
    champion = mlflow_client.get_model_version_by_alias("deepfake-detector", "champion")
    assert champion.version == 1 and champion.tags["data_hash"] == "h1"
    # The version is the image-taking serving model, with the threshold of the detector's report.
    served = mlflow.pyfunc.load_model("models:/deepfake-detector@champion")
    assert served.metadata.flavors["python_function"].get("model_code_path")
    assert served.unwrap_python_model().settings.threshold == 0.5
    assert served.unwrap_python_model().settings.segmenter_version == "1"
    assert champion.tags["generators_trained"] == '["a", "b"]'

    # Better overall, but 0.05 worse on generator a: blocked at tolerance 0.02 ...
    challenger = comparison(0.85, {"a": 0.90, "b": 0.90, "c": 0.80})
    current = champion_on_current_split(mlflow_client, 0.80, {"a": 0.95, "b": 0.70, "c": 0.20})
    blocked = register_and_promote(challenger, current, settings=settings, provenance={"data_hash": "h2"})
    assert not blocked["promoted"]
    assert "a: 0.9000 < 0.9500" in blocked["reason"]
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "champion").version == 1
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "challenger").version == 2
    version_2 = mlflow_client.get_model_version("deepfake-detector", "2")
    assert version_2.tags["promotion.decision"] == "not promoted"

    # ... and promoted when the configured tolerance allows that regression.
    lenient = PromotionSettings(metric="f1", tolerance=0.10)
    promoted = register_and_promote(challenger, current, settings=lenient, provenance={"data_hash": "h2"})
    assert promoted["promoted"] and promoted["detector_version"] == "2", (
        "the same run is not registered twice"
    )
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "champion").version == 2
    with pytest.raises(mlflow.exceptions.MlflowException):
        mlflow_client.get_model_version_by_alias("deepfake-detector", "challenger")
    segmenter_champion = mlflow_client.get_model_version_by_alias("face-segmenter", "champion")
    assert segmenter_champion.run_id == challenger["best_segmenter"]["run_id"]

    # Rerunning with nothing new (cached training) keeps the champion and says why.
    again = register_and_promote(
        challenger,
        champion_on_current_split(mlflow_client, 0.85, {"a": 0.9}),
        settings=settings,
        provenance={"data_hash": "h2"},
    )
    assert again["promoted"] and "already the champion" in again["reason"]
    assert len(mlflow_client.search_model_versions("name='deepfake-detector'")) == 2


def test_challenger_that_does_not_beat_the_champion_gets_the_challenger_alias(
    mlflow_client: MlflowClient,
) -> None:
    settings = PromotionSettings(metric="f1", tolerance=1.0)
    register_and_promote(comparison(0.9, {"a": 0.9}), {"exists": False}, settings=settings, provenance={})
    worse = comparison(0.7, {"a": 0.95})
    decision = register_and_promote(
        worse, champion_on_current_split(mlflow_client, 0.9, {"a": 0.9}), settings=settings, provenance={}
    )
    assert not decision["promoted"] and "does not beat" in decision["reason"]
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "challenger").version == 2


def test_a_promoted_version_clears_an_older_challenger(mlflow_client: MlflowClient) -> None:
    settings = PromotionSettings(metric="f1", tolerance=0.02)
    register_and_promote(comparison(0.8, {"a": 0.8}), {"exists": False}, settings=settings, provenance={})
    register_and_promote(
        comparison(0.7, {"a": 0.7}),
        champion_on_current_split(mlflow_client, 0.8, {"a": 0.8}),
        settings=settings,
        provenance={},
    )
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "challenger").version == 2
    promoted = register_and_promote(
        comparison(0.9, {"a": 0.9}),
        champion_on_current_split(mlflow_client, 0.8, {"a": 0.8}),
        settings=settings,
        provenance={},
    )
    assert promoted["promoted"] and promoted["detector_version"] == "3"
    with pytest.raises(mlflow.exceptions.MlflowException):
        mlflow_client.get_model_version_by_alias("deepfake-detector", "challenger")


def test_robustness_gate_turns_down_or_promotes_through_the_registry(mlflow_client: MlflowClient) -> None:
    strict = PromotionSettings(metric="f1", tolerance=1.0, robustness_tolerance=0.05)
    register_and_promote(comparison(0.8, {"a": 0.8}, 0.9), {"exists": False}, settings=strict, provenance={})
    fragile = comparison(0.9, {"a": 0.9}, 0.7)  # better on clean images, much worse when re-encoded
    champion = champion_on_current_split(mlflow_client, 0.8, {"a": 0.8}, robust_roc_auc=0.9)
    turned_down = register_and_promote(fragile, champion, settings=strict, provenance={})
    assert not turned_down["promoted"] and "robustness ROC-AUC 0.7000" in turned_down["reason"]
    version = mlflow_client.get_model_version("deepfake-detector", turned_down["detector_version"])
    assert version.tags["promotion.decision"] == "not promoted"
    assert "robustness" in version.tags["promotion.reason"]
    assert json.loads(version.tags["robustness_roc_auc"]) == {"blur_1": 0.7, "jpeg_q75": 0.7}
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "champion").version == 1

    lenient = PromotionSettings(metric="f1", tolerance=1.0, robustness_tolerance=0.25)
    promoted = register_and_promote(fragile, champion, settings=lenient, provenance={})
    assert promoted["promoted"]
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "champion").version == 2
