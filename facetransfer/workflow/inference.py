"""Logging a batch-scored folder to MLflow (the report step of ``inference_pipeline``).

The scoring itself is ``facetransfer.scoring.batch``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from facetransfer.evaluation import detection_metrics
from facetransfer.scoring.batch import folder_counts, score_histogram
from facetransfer.scoring.predict import write_track_plots
from facetransfer.tracking.runs import log_figure, log_json, log_table
from facetransfer.workflow.detector import prefixed_metrics
from facetransfer.workflow.model_runs import pipeline_run

logger = logging.getLogger(__name__)


def report_scores(scored: pd.DataFrame, *, source: str) -> dict[str, Any]:
    """Log a scored folder to the pipeline's MLflow run; return the summary.

    Counts and metrics are per image (or video), by its verdict (its highest face score); the
    rows stay per face. Logged: metrics ``images``, ``faces``, ``scored``, ``unreadable``,
    ``share_flagged`` (and, with ``real/``/``fake/`` labels, ``labelled/<metric>``);
    ``plots/score_histogram.png``; a score-over-time plot per video face track
    (``plots/tracks/``); ``tables/per_folder_counts``; ``tables/unreadable_files`` (path and
    reason); ``scores.parquet`` (one row per face); tags ``scoring.source`` and
    ``scoring.model_version``.
    """
    import mlflow

    images = scored.drop_duplicates("path")
    good = images[images["error"].isna()]
    summary: dict[str, Any] = {
        "images": len(images),
        "faces": int(scored["face_found"].sum()),
        "scored": len(good),
        "unreadable": len(images) - len(good),
        "share_flagged": float((good["image_prediction"] == "fake").mean()) if len(good) else float("nan"),
    }
    versions = sorted(set(scored["model_version"].dropna()))
    labelled = good[good["label"].notna()]
    if labelled["label"].nunique() == 2:
        threshold = float(labelled["threshold"].iloc[0])
        summary["metrics"] = detection_metrics(
            labelled["label"].astype(int), labelled["image_fake_probability"], threshold
        )
    with pipeline_run("inference_pipeline"):
        mlflow.set_tags({"scoring.source": source, "scoring.model_version": ",".join(versions)})
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, int | float)})
        if "metrics" in summary:
            mlflow.log_metrics(prefixed_metrics("labelled", summary["metrics"], separator="/"))
        log_figure(
            score_histogram(scored, title=f"{source} ({', '.join(versions)})"), "plots/score_histogram.png"
        )
        log_table(folder_counts(scored), "tables/per_folder_counts")
        log_table(scored.loc[scored["error"].notna(), ["path", "error"]], "tables/unreadable_files")
        log_json(summary, "scoring_summary.json")
        _log_parquet(scored, "scores.parquet")
        _log_track_plots(scored)
    logger.info("scoring summary: %s", summary)
    return summary


def _log_parquet(frame: pd.DataFrame, name: str) -> None:
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _log_track_plots(scored: pd.DataFrame) -> None:
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        if write_track_plots(scored, Path(tmp)):
            mlflow.log_artifacts(tmp, "plots/tracks")
