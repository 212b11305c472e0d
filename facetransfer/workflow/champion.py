"""The model in service, measured first: how does the champion fare on today's data?"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from facetransfer.evaluation import detection_metrics
from facetransfer.evaluation.robustness import robustness_sweep
from facetransfer.registry.client import CHAMPION, champion_version, json_tag, new_generators
from facetransfer.scoring.registered import load_registered_detector
from facetransfer.tracking.runs import log_table
from facetransfer.workflow.detector import (
    TEST_SCORES,
    log_robustness,
    metrics_by_scope,
    prefixed_metrics,
    score_detector,
    score_records,
)
from facetransfer.workflow.model_runs import pipeline_run, split_frame

logger = logging.getLogger(__name__)


def evaluate_champion(
    manifest: pd.DataFrame,
    *,
    model_name: str,
    batch_size: int,
    perturbations: Sequence[str] = (),
) -> dict[str, Any]:
    """Evaluate the current champion on the current test split and on every new generator.

    Logged to the active run: ``champion/test/<metric>``, ``champion/test/<generator>/<metric>``
    and ``champion/new/<generator>/<metric>`` (a new generator's images from every split,
    with the real test images), ``champion/robust/<perturbation>/<metric>`` (the robustness sweep
    of the test split, the same the challengers get), plus the table
    ``tables/champion_per_generator``.

    Returns:
        ``{"exists": False, "new_generators": [...]}`` without a champion; otherwise its version,
        threshold, the generators it was trained and evaluated on, the metrics and its per-image
        test scores (``test_scores``, for the paired promotion test).

    Raises:
        RegistryUnavailableError: the registry cannot be reached, so whether a champion exists is
            unknown; the run stops here instead of promoting without a comparison.
    """
    version = champion_version(model_name)
    generators_new = new_generators(manifest, version)
    if version is None:
        logger.info("no %s@%s yet: nothing to evaluate before training", model_name, CHAMPION)
        return {"exists": False, "new_generators": generators_new}
    champion = load_registered_detector(model_name, version)
    threshold = champion.threshold
    test_metrics, on_new, test = _score_champion(champion, manifest, generators_new, batch_size)
    sweep = robustness_sweep(
        champion.model,
        test,
        preprocessing=champion.preprocessing,
        threshold=threshold,
        perturbations=perturbations,
        batch_size=batch_size,
    )
    with pipeline_run("evaluate_champion"):
        _log_champion(str(version.version), test_metrics, on_new)
        log_robustness(sweep, prefix="champion/robust")
    for generator, metrics in on_new.items():
        logger.info("champion v%s on new generator %s: F1 %.4f", version.version, generator, metrics["f1"])
    return {
        "exists": True,
        "version": str(version.version),
        "run_id": version.run_id,
        "threshold": threshold,
        "generators_trained": json_tag(version, "generators_trained", []),
        "evaluated_generators": json_tag(version, "evaluated_generators", []),
        "new_generators": generators_new,
        "test": test_metrics,
        "new_generator_metrics": on_new,
        "robustness": sweep,
        TEST_SCORES: score_records(test),
    }


def _score_champion(
    champion: Any, manifest: pd.DataFrame, generators_new: list[str], batch_size: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], pd.DataFrame]:
    """The champion's metrics on the test split and on each new generator, and the scored test rows.

    Only the test split and the new generators' images are scored. A new generator is measured
    on its images from every split, with the real test images.
    """
    needed = manifest[(manifest["split"] == "test") | manifest["generator"].isin(generators_new)]
    scored = score_detector(
        champion.model, needed, preprocessing=champion.preprocessing, batch_size=batch_size
    )
    test = split_frame(scored, "test")
    real_test = test[test["label"] == 0]
    on_new = {}
    for generator in generators_new:
        subset = pd.concat([real_test, scored[scored["generator"] == generator]])
        on_new[generator] = detection_metrics(subset["label"], subset["score"], champion.threshold)
    return metrics_by_scope(test, champion.threshold), on_new, test


def _log_champion(version: str, test_metrics: dict[str, Any], on_new: dict[str, dict[str, Any]]) -> None:
    import mlflow

    mlflow.log_metrics(prefixed_metrics("champion/test", test_metrics["overall"], separator="/"))
    for generator, metrics in test_metrics["per_generator"].items():
        mlflow.log_metrics(prefixed_metrics(f"champion/test/{generator}", metrics, separator="/"))
    for generator, metrics in on_new.items():
        mlflow.log_metrics(prefixed_metrics(f"champion/new/{generator}", metrics, separator="/"))
    rows = [{"scope": "overall", **test_metrics["overall"]}]
    rows += [{"scope": g, **m} for g, m in test_metrics["per_generator"].items()]
    rows += [{"scope": f"new:{g}", **m} for g, m in on_new.items()]
    log_table(pd.DataFrame(rows), "tables/champion_per_generator")
    mlflow.set_tags({"champion.version": version, "data.new_generators": ",".join(on_new) or "none"})
