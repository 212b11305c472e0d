"""register_and_promote against a real MLflow registry (SQLite): both outcomes of the rule."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from torch import nn

from facetransfer.config import PromotionSettings
from facetransfer.evaluation import detection_metrics
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


def scored_images(scores: np.ndarray, labels: np.ndarray) -> dict:
    return {
        "path": [f"test/{i}.png" for i in range(len(labels))],
        "label": labels.tolist(),
        "score": scores.tolist(),
    }


def test_paired_bootstrap_promotion_tests_the_gain_on_the_images_both_models_scored(
    mlflow_client: MlflowClient,
) -> None:
    settings = PromotionSettings(
        metric="f1", tolerance=1.0, significance="paired_bootstrap", bootstrap_resamples=500
    )
    register_and_promote(comparison(0.8, {"a": 0.8}), {"exists": False}, settings=settings, provenance={})
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(60), np.ones(60)].astype(int)
    old = 1 / (1 + np.exp(-rng.normal(1.4 * labels - 0.7, 1.0)))
    noisy = old.copy()  # 4 fakes more caught, 2 more missed: a higher F1 within the noise
    noisy[np.flatnonzero((labels == 1) & (old < 0.5))[:4]] = 0.9
    noisy[np.flatnonzero((labels == 1) & (old >= 0.5))[:2]] = 0.1
    champion = champion_on_current_split(mlflow_client, detection_metrics(labels, old, 0.5)["f1"], {"a": 0.8})
    champion |= {"threshold": 0.5, "test_scores": scored_images(old, labels)}

    def challenger(scores: np.ndarray) -> dict:
        candidate = comparison(detection_metrics(labels, scores, 0.5)["f1"], {"a": 0.9})
        detector = candidate["best_detector"]
        detector["test"]["per_generator"]["a"]["few_images"] = True
        detector |= {"test_scores": scored_images(scores, labels), "interval_settings": {"min_images": 20}}
        return candidate

    within_noise = register_and_promote(challenger(noisy), champion, settings=settings, provenance={})
    assert not within_noise["promoted"] and "the gain is not significant" in within_noise["reason"]
    assert within_noise["paired_test"]["p_value"] >= 0.05
    version = mlflow_client.get_model_version("deepfake-detector", within_noise["detector_version"])
    assert "one-sided p = " in version.tags["promotion.reason"]
    run_id = mlflow.last_active_run().info.run_id
    table = pd.read_csv(mlflow_client.download_artifacts(run_id, "tables/promotion_comparison.csv"))
    overall = table.set_index("scope").loc["overall"]
    assert overall["p_value"] == pytest.approx(within_noise["paired_test"]["p_value"])
    assert overall["delta_ci_low"] < 0 < overall["delta_ci_high"]
    markdown = Path(mlflow_client.download_artifacts(run_id, "tables/promotion_comparison.md")).read_text()
    assert "| a*" in markdown and "n < 20" in markdown and " [-0.0" in markdown
    decision = json.loads(
        Path(mlflow_client.download_artifacts(run_id, "promotion_decision.json")).read_text()
    )
    assert decision["significance"] == "paired_bootstrap" and decision["paired_test"]["n_images"] == 120

    separating = np.where(labels == 1, 0.9, 0.1)
    promoted = register_and_promote(challenger(separating), champion, settings=settings, provenance={})
    assert promoted["promoted"] and "the gain is significant at alpha 0.05" in promoted["reason"]
    assert mlflow_client.get_model_version_by_alias("deepfake-detector", "champion").version == 3
