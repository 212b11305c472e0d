"""Register the run's best models and apply the promotion rule to the detector."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from facetransfer.config import PromotionSettings
from facetransfer.evaluation import paired_bootstrap
from facetransfer.evaluation.robustness import mean_roc_auc
from facetransfer.registry.client import (
    CHALLENGER,
    CHAMPION,
    register_run_model,
    registry_errors,
    run_version,
    set_version_tags,
)
from facetransfer.registry.promotion import ModelScores, PairedDifference, PromotionDecision, decide_promotion
from facetransfer.tracking.runs import log_json
from facetransfer.workflow.comparison import segmenter_of
from facetransfer.workflow.detector import TEST_SCORES, log_interval_table
from facetransfer.workflow.model_runs import pipeline_run

logger = logging.getLogger(__name__)

PAIRED_BOOTSTRAP_SEED = 0
"""Seed of the paired bootstrap: the same scores give the same p-value on every rerun."""


def register_and_promote(
    comparison: Mapping[str, Any],
    champion: Mapping[str, Any],
    *,
    settings: PromotionSettings,
    provenance: Mapping[str, Any],
    faces: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Register the best detector and its segmenter; move ``champion`` only if the rule says so.

    The detector version is an image-taking serving model (``facetransfer.scoring``) carrying the
    detector's weights, its threshold and preprocessing, and the weights of the face parser
    version registered with it; it is logged into the detector's run the first time that run is
    registered. The detector version is tagged with what the promotion rule and later runs need: threshold,
    image size, backbone, variant, data hash, the generators it was trained and evaluated on and
    its test metrics. The segmenter that fed the champion detector gets the segmenter's
    ``champion`` alias too, so the registry keeps the lineage.

    Args:
        comparison: output of ``compare_and_log``.
        champion: output of ``evaluate_champion`` (the champion on the current test split).
        settings: promotion metric, tolerance and registered model names.
        provenance: tags of the run (data hash, git commit, ZenML run id, ...).
        faces: the face settings ingestion cut the training crops with (``None``: the sources were
            aligned crops already; scoring then cuts faces FFHQ-style), recorded in the served model.

    Returns:
        The decision (``promoted``, ``reason``), the registered versions and the comparison rows.

    Raises:
        RegistryUnavailableError: the registry cannot be reached; raised by the first registry
            read, before anything is registered or any alias moves.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    # Read the registry before changing it: when it cannot be reached, this raises
    # RegistryUnavailableError and nothing is registered and no alias moves.
    pending = _alias_target(client, settings.detector_model, CHALLENGER)
    detector = comparison["best_detector"]
    segmenter = segmenter_of(comparison, detector)
    # Before anything is registered: a paired test that cannot run changes nothing in the registry.
    paired = paired_difference(detector, champion, settings) if settings.significance != "none" else None
    segmenter_version = _register_segmenter(client, segmenter, settings, provenance)
    detector_version = _register_detector(
        client, detector, segmenter, segmenter_version, settings, provenance, faces
    )
    decision = _decide(detector, champion, detector_version, settings, paired)
    _move_aliases(client, decision, (detector_version, segmenter_version), pending, champion, settings)
    outcome = "promoted" if decision.promote else "not promoted"
    set_version_tags(
        client,
        settings.detector_model,
        detector_version,
        {
            "promotion.decision": outcome,
            "promotion.reason": decision.reason,
            "promotion.compared_to": champion.get("version", "none"),
        },
    )
    with pipeline_run("register_and_promote"):
        _log_decision(decision, detector_version, champion, settings, paired)
        log_interval_table(
            decision.comparison,
            "tables/promotion_comparison",
            label_column="scope",
            min_images=int((detector.get("interval_settings") or {}).get("min_images", 0)),
        )
    logger.info("%s version %s %s: %s", settings.detector_model, detector_version, outcome, decision.reason)
    return {
        "promoted": decision.promote,
        "reason": decision.reason,
        "detector_model": settings.detector_model,
        "detector_version": detector_version,
        "segmenter_model": settings.segmenter_model,
        "segmenter_version": segmenter_version,
        "champion_before": champion.get("version"),
        "comparison": decision.comparison.to_dict(orient="records"),
        "paired_test": dataclasses.asdict(paired) if paired else None,
    }


def _register_segmenter(
    client: Any, segmenter: Mapping[str, Any], settings: PromotionSettings, provenance: Mapping[str, Any]
) -> str:
    """Register the segmenter's weights (once per run); its version."""
    version = register_run_model(
        client,
        name=settings.segmenter_model,
        run_id=str(segmenter["run_id"]),
        model_uri=segmenter.get("model_uri"),
        tags={
            **provenance,
            "backbone": segmenter["backbone"],
            "scheme": segmenter["scheme"],
            "image_size": segmenter["image_size"],
            "test_pixel_accuracy": segmenter["test"]["pixel_accuracy"],
        },
        description=f"DeepLabV3+ face parser, {segmenter['backbone']} backbone",
    )
    return str(version.version)


def _register_detector(
    client: Any,
    detector: Mapping[str, Any],
    segmenter: Mapping[str, Any],
    segmenter_version: str,
    settings: PromotionSettings,
    provenance: Mapping[str, Any],
    faces: Mapping[str, Any] | None,
) -> str:
    """Register the detector's serving model, logging it the first time its run is registered."""
    run_id = str(detector["run_id"])
    existing = run_version(client, settings.detector_model, run_id)
    if existing is not None:  # a rerun that reused the cached training step
        return str(existing.version)
    model_uri = log_detector_serving_model(
        detector, segmenter, settings.detector_model, segmenter_version, faces
    )
    version = register_run_model(
        client,
        name=settings.detector_model,
        run_id=run_id,
        model_uri=model_uri,
        tags=_detector_tags(detector, provenance, segmenter_version),
        description=(
            f"Real-vs-generated face detector, {detector['backbone']} backbone, "
            f"transfer '{detector['variant']}'"
        ),
    )
    return str(version.version)


def _move_aliases(
    client: Any,
    decision: PromotionDecision,
    versions: tuple[str, str],
    pending_challenger: str | None,
    champion: Mapping[str, Any],
    settings: PromotionSettings,
) -> None:
    """``champion`` to the promoted detector (and its segmenter), else ``challenger`` to the new one."""
    detector_version, segmenter_version = versions
    with registry_errors(client):
        if decision.promote:
            client.set_registered_model_alias(settings.detector_model, CHAMPION, detector_version)
            client.set_registered_model_alias(settings.segmenter_model, CHAMPION, segmenter_version)
            # A promoted version supersedes every challenger up to it (itself included): none stays
            # pending behind the new champion.
            if pending_challenger is not None and int(pending_challenger) <= int(detector_version):
                client.delete_registered_model_alias(settings.detector_model, CHALLENGER)
        elif str(champion.get("version")) != detector_version:
            client.set_registered_model_alias(settings.detector_model, CHALLENGER, detector_version)


def log_detector_serving_model(
    detector: Mapping[str, Any],
    segmenter: Mapping[str, Any],
    model_name: str,
    segmenter_version: str,
    faces: Mapping[str, Any] | None = None,
) -> str:
    """Log the serving model of ``detector`` (with ``segmenter``'s weights) into its run; return its URI.

    The model serves ``detector``'s calibrated probabilities: its ``threshold`` (calibrated scale)
    and its calibration temperature (``report_temperature``).
    """
    import tempfile
    from pathlib import Path

    from facetransfer.faces.face_settings import FaceSettings
    from facetransfer.models.weights import download_weights
    from facetransfer.scoring.publish import log_serving_model
    from facetransfer.scoring.pyfunc import ServingSettings
    from facetransfer.workflow.detector import report_preprocessing
    from facetransfer.workflow.model_runs import model_run

    settings = ServingSettings(
        model_name=model_name,
        threshold=float(detector["threshold"]),
        preprocessing=report_preprocessing(detector),
        segmenter_version=str(segmenter_version),
        run_id=str(detector["run_id"]),
        faces=FaceSettings.model_validate(dict(faces or {})),
        temperature=report_temperature(detector),
    )
    with tempfile.TemporaryDirectory() as tmp:
        detector_folder = download_weights(str(detector["model_uri"]), Path(tmp) / "detector")
        segmenter_folder = download_weights(str(segmenter["model_uri"]), Path(tmp) / "segmenter")
        with model_run(run_id=str(detector["run_id"])):
            info = log_serving_model(
                detector_folder=detector_folder, segmenter_folder=segmenter_folder, settings=settings
            )
    return str(info.model_uri)


def report_temperature(detector: Mapping[str, Any]) -> float:
    """The calibration temperature of a detector report (1 for reports evaluated before calibration)."""
    return float((detector.get("calibration") or {}).get("temperature", 1.0))


def _detector_tags(
    detector: Mapping[str, Any], provenance: Mapping[str, Any], segmenter_version: str
) -> dict:
    test = detector["test"]
    return {
        **provenance,
        "backbone": detector["backbone"],
        "variant": detector["variant"],
        **({"seed": detector["seed"]} if detector.get("seed") is not None else {}),
        "threshold": detector["threshold"],
        "temperature": report_temperature(detector),
        "image_size": detector["image_size"],
        "preprocessing": detector["preprocessing"],
        "generators_trained": detector["generators_trained"],
        "evaluated_generators": sorted(test["per_generator"]),
        "test_metrics": {k: test["overall"][k] for k in ("accuracy", "precision", "recall", "f1", "roc_auc")},
        "test_per_generator_f1": {g: m["f1"] for g, m in test["per_generator"].items()},
        "robustness_roc_auc": {p: m["roc_auc"] for p, m in (detector.get("robustness") or {}).items()},
        "segmenter_version": segmenter_version,
    }


def _scores(report: Mapping[str, Any]) -> ModelScores:
    """Promotion scores of a detector or champion report (test split, robustness sweep)."""
    sweep = report.get("robustness") or {}
    return ModelScores(
        report["test"]["overall"],
        report["test"]["per_generator"],
        robustness_roc_auc=mean_roc_auc(sweep) if sweep else None,
    )


def paired_difference(
    detector: Mapping[str, Any], champion: Mapping[str, Any], settings: PromotionSettings
) -> PairedDifference | None:
    """Paired bootstrap of the detector's gain over the champion on ``settings.metric``.

    Pairs the per-image test scores of both reports (``test_scores``) by image path, each model
    at its own threshold; the interval is at ``1 - 2 alpha``.

    Returns:
        ``None`` when either report has no per-image scores or they share no image.

    Raises:
        ValueError: an image carries different labels in the two reports.
    """
    new, old = detector.get(TEST_SCORES), champion.get(TEST_SCORES)
    if not new or not old:
        return None
    both = pd.DataFrame(new).merge(pd.DataFrame(old), on="path", suffixes=("_challenger", "_champion"))
    if both.empty:
        return None
    conflicting = both.loc[both["label_challenger"] != both["label_champion"], "path"]
    if len(conflicting):
        raise ValueError(
            f"{len(conflicting)} test images are labelled differently in the challenger's and the "
            f"champion's scores (first: {conflicting.iloc[0]}); both must score the same manifest"
        )
    return paired_bootstrap(
        both["label_challenger"],
        both["score_challenger"],
        both["score_champion"],
        metric=settings.metric,
        challenger_threshold=float(detector["threshold"]),
        champion_threshold=float(champion["threshold"]),
        n_resamples=settings.bootstrap_resamples,
        confidence_level=1 - 2 * settings.alpha,
        seed=PAIRED_BOOTSTRAP_SEED,
    )


def _decide(
    detector: Mapping[str, Any],
    champion: Mapping[str, Any],
    version: str,
    settings: PromotionSettings,
    paired: PairedDifference | None,
) -> PromotionDecision:
    rule = {
        "metric": settings.metric,
        "tolerance": settings.tolerance,
        "robustness_tolerance": settings.robustness_tolerance,
        "absent_generators": settings.absent_generators,
        "significance": settings.significance,
        "alpha": settings.alpha,
    }
    challenger = _scores(detector)
    if not champion.get("exists"):
        return decide_promotion(challenger, None, **rule)
    current = _scores(champion)
    if str(champion["version"]) == str(version):
        decision = decide_promotion(challenger, current, paired=paired, **rule)
        return PromotionDecision(
            True, f"version {version} is already the champion (unchanged data and code)", decision.comparison
        )
    return decide_promotion(
        challenger,
        current,
        champion_generators=list(champion.get("evaluated_generators") or champion["test"]["per_generator"]),
        paired=paired,
        **rule,
    )


def _alias_target(client: Any, name: str, alias: str) -> str | None:
    from facetransfer.registry.client import alias_version

    version = alias_version(client, name, alias)
    return None if version is None else str(version.version)


def _log_decision(
    decision: PromotionDecision,
    version: str,
    champion: Mapping[str, Any],
    settings: PromotionSettings,
    paired: PairedDifference | None,
) -> None:
    import mlflow

    mlflow.set_tags(
        {
            "promotion.decision": "promoted" if decision.promote else "not promoted",
            "promotion.reason": decision.reason[:5000],
            "promotion.candidate_version": version,
        }
    )
    log_json(
        {
            "promoted": decision.promote,
            "reason": decision.reason,
            "candidate_version": version,
            "champion_version": champion.get("version"),
            "metric": settings.metric,
            "tolerance": settings.tolerance,
            "robustness_tolerance": settings.robustness_tolerance,
            "absent_generators": settings.absent_generators,
            "significance": settings.significance,
            "alpha": settings.alpha,
            "paired_test": dataclasses.asdict(paired) if paired else None,
        },
        "promotion_decision.json",
    )
