"""Which face regions give each generator away: the best detector's mean region attribution per generator.

For the run's best detector (the one registration will register) and the face parser it comes
with, a few test images of each generator, and as many real test images, are explained by
region (``facetransfer.explanation``). The mean contribution per generator and region is logged
to the pipeline's MLflow run as a table and a heatmap. The number of images is capped by
``evaluation.explain_images_per_generator`` because each explanation costs about a dozen
forward passes; the seconds spent are logged (``explain/seconds``).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facetransfer.explanation import REGIONS, region_heatmap_figure
from facetransfer.scoring.scorer import prepare
from facetransfer.tracking.runs import log_figure, log_table
from facetransfer.workflow.comparison import segmenter_of
from facetransfer.workflow.detector import report_name, report_preprocessing
from facetransfer.workflow.model_runs import pipeline_run, split_frame

logger = logging.getLogger(__name__)

REAL_GROUP = "real"


def explanation_sample(test: pd.DataFrame, images_per_group: int) -> dict[str, pd.DataFrame]:
    """Per generator (and ``real``), its first ``images_per_group`` test rows by path (deterministic)."""
    ordered = test.sort_values("path")
    groups = {
        str(generator): rows.head(images_per_group)
        for generator, rows in ordered[ordered["label"] == 1].groupby("generator", dropna=True)
    }
    real = ordered[ordered["label"] == 0].head(images_per_group)
    if not real.empty:
        groups[REAL_GROUP] = real
    return groups


def mean_region_table(contributions: Mapping[str, list[dict[str, float]]]) -> pd.DataFrame:
    """``group x region`` mean contributions (a region absent from an image contributes 0 there).

    Columns are the regions present in at least one image, in ``REGIONS`` order, plus ``images``.
    """
    present = {region for rows in contributions.values() for row in rows for region in row}
    columns = [region for region in REGIONS if region in present]
    table = pd.DataFrame(
        {
            group: {region: float(np.mean([row.get(region, 0.0) for row in rows])) for region in columns}
            for group, rows in contributions.items()
            if rows
        }
    ).T.reindex(columns=columns)
    table["images"] = [len(contributions[group]) for group in table.index]
    table.index.name = "group"
    return table


def explain_best_detector(
    comparison: Mapping[str, Any], manifest: pd.DataFrame, *, images_per_generator: int
) -> dict[str, Any]:
    """Explain the best detector on a few test images per generator; log the table and heatmap.

    Logged to the pipeline's run: ``tables/region_attribution_per_generator.{csv,md}``,
    ``plots/region_attribution_per_generator.png`` and the metrics ``explain/seconds``,
    ``explain/images`` and ``explain/ms_per_image``.

    Returns:
        ``{"detector", "images", "seconds", "table"}`` (``table`` as records), or
        ``{"skipped": True}`` when ``images_per_generator`` is 0.
    """
    import mlflow

    if images_per_generator <= 0:
        logger.info("region explanations skipped (evaluation.explain_images_per_generator = 0)")
        return {"skipped": True}
    started = time.perf_counter()
    detector = comparison["best_detector"]
    explainer, preprocessing = _load_explainer(detector, segmenter_of(comparison, detector))
    samples = explanation_sample(split_frame(manifest, "test"), images_per_generator)
    contributions: dict[str, list[dict[str, float]]] = {}
    for group, rows in samples.items():
        contributions[group] = []
        for path in rows["path"]:
            item = prepare(str(path), preprocessing)
            if item.error is not None:
                logger.warning("not explained: %s", item.error)
                continue
            contributions[group].append(explainer.explain(item.pixels, item.inputs).contributions)
    table = mean_region_table(contributions)
    seconds = time.perf_counter() - started
    images = int(table["images"].sum())
    name = report_name(detector)
    with pipeline_run("explain_best_detector"):
        log_table(table.reset_index(), "tables/region_attribution_per_generator")
        log_figure(
            region_heatmap_figure(
                table.drop(columns="images"),
                title=f"{name}: mean region contribution to the fake score (test)",
            ),
            "plots/region_attribution_per_generator.png",
        )
        mlflow.log_metrics(
            {
                "explain/seconds": seconds,
                "explain/images": images,
                "explain/ms_per_image": 1000 * seconds / max(images, 1),
            }
        )
    logger.info("region attribution of %s on %d test images in %.1f s:\n%s", name, images, seconds, table)
    return {
        "detector": name,
        "images": images,
        "seconds": seconds,
        "table": table.reset_index().to_dict("records"),
    }


def _load_explainer(detector: Mapping[str, Any], segmenter: Mapping[str, Any]) -> tuple[Any, Any]:
    """The region explainer of the logged detector with its face parser (from the runs' safetensors)."""
    from facetransfer.models.weights import download_weights, load_weights
    from facetransfer.scoring.pyfunc import build_explainer

    with tempfile.TemporaryDirectory() as tmp:
        model = load_weights(
            download_weights(str(detector["model_uri"]), Path(tmp) / "detector"), kind="detector"
        )
        explainer = build_explainer(
            download_weights(str(segmenter["model_uri"]), Path(tmp) / "segmenter"), model
        )
    return explainer, report_preprocessing(detector)
