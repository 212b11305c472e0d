"""Scoring images with a registered detector (``facetransfer predict``)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from facetransfer.faces.video import VIDEO_EXTENSIONS
from facetransfer.ingestion.readers.paths import list_image_files
from facetransfer.ingestion.sources import IMAGE_EXTENSIONS
from facetransfer.scoring.scorer import IMAGE_RULE

logger = logging.getLogger(__name__)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named by ``inputs`` (files, or folders searched recursively, hidden entries skipped).

    Raises:
        FileNotFoundError: an input does not exist, or no image was found.
    """
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images += list_image_files(item, extensions=IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
        elif item.is_file():
            images.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    if not images:
        kinds = ", ".join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
        raise FileNotFoundError(f"no images or videos ({kinds}) in {', '.join(map(str, inputs))}")
    return images


def load_scoring_model(model_name: str, alias: str, tracking_uri: str) -> Any:
    """The serving model of ``model_name@alias`` (MLflow pyfunc; nothing is unpickled).

    Raises:
        LookupError: no such model or alias, or a version registered before serving models.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from facetransfer.registry.client import alias_version

    mlflow.set_tracking_uri(tracking_uri)
    version = alias_version(MlflowClient(), model_name, alias)
    if version is None:
        raise LookupError(
            f"no registered model {model_name}@{alias} in {tracking_uri}: run the pipeline first"
        )
    uri = f"models:/{model_name}/{version.version}"
    if "pytorch" in mlflow.models.get_model_info(uri).flavors:
        raise LookupError(
            f"{model_name} version {version.version} is a pickled mlflow.pytorch model registered before "
            "image-taking serving models: run the pipeline (facetransfer retrain --force) to register one"
        )
    return mlflow.pyfunc.load_model(uri)


CHUNK_ROWS = 256
"""Images per call of the serving model (bounds the memory of decoded images)."""


def score_images(
    images: Sequence[Path],
    *,
    model_name: str,
    alias: str,
    tracking_uri: str,
    explain_dir: Path | None = None,
    faces: str = "auto",
) -> pd.DataFrame:
    """Fake probability and decision of each image, by the serving model of ``model_name@alias``.

    The images go through the registered pyfunc model (``facetransfer.scoring``), the same path
    as ``mlflow models serve`` and ``facetransfer serve``: its own preprocessing and threshold.
    An unreadable image gets a row with ``error`` set; the others are scored.

    Args:
        images: image files.
        model_name: registered model name.
        alias: registry alias (``champion``).
        tracking_uri: MLflow tracking URI.
        explain_dir: if given, each face's region explanation is written there (``<n>_<stem>.png``
            overlays and ``regions.csv``) and the column ``explanation`` names the PNG.
        faces: ``auto``, ``align`` or ``off`` (see ``facetransfer.scoring.scorer``).

    Returns:
        One row per face (per track for a video, per image scored whole): ``path``, then the
        serving model's columns (``input_index``, ``face_index``, ``face_found``, ``box``, ...,
        ``fake_probability``, ``prediction``, ``threshold``, ``model_version``, ``error``,
        ``image_fake_probability``, ``image_prediction``) (and ``explanation``).
    """
    model = load_scoring_model(model_name, alias, tracking_uri)
    frame = pd.DataFrame({"path": [str(p.resolve()) for p in images]})
    params = {"explain": explain_dir is not None, "faces": faces}
    parts = []
    for start in range(0, len(frame), CHUNK_ROWS):
        part = model.predict(frame.iloc[start : start + CHUNK_ROWS], params=params).reset_index(drop=True)
        parts.append(part.assign(input_index=part["input_index"] + start))
    scored = pd.concat(parts, ignore_index=True)
    result = pd.concat([frame["path"].iloc[scored["input_index"]].reset_index(drop=True), scored], axis=1)
    if explain_dir is not None:
        result = write_explanations(result, explain_dir)
    return result


def write_explanations(scored: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Write the overlays and the region table of explained rows; return ``scored`` with ``explanation``.

    Files: ``<row>_<image stem>.png`` per explained image, and ``regions.csv`` (``path``,
    ``region``, ``contribution``: the fake probability the region adds) for all of them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names: list[str | None] = []
    rows = []
    for index, row in enumerate(scored.itertuples(index=False)):
        if row.explanation_png is None:
            names.append(None)
            continue
        face = "" if pd.isna(row.face_index) else f"_face{int(row.face_index)}"
        target = folder / f"{index:04d}_{Path(str(row.path)).stem}{face}.png"
        target.write_bytes(base64.b64decode(row.explanation_png))
        names.append(str(target))
        rows += [
            {"path": row.path, "region": region, "contribution": value}
            for region, value in json.loads(row.regions).items()
        ]
    pd.DataFrame(rows, columns=["path", "region", "contribution"]).to_csv(folder / "regions.csv", index=False)
    logger.info("wrote %d explanations to %s", sum(name is not None for name in names), folder)
    return scored.drop(columns=["regions", "explanation_png"]).assign(
        explanation=pd.Series(names, dtype=object, index=scored.index)
    )


def write_scores(frame: pd.DataFrame, output: Path) -> None:
    """Write scores to ``output``: ``.csv`` or ``.parquet`` (by suffix).

    Raises:
        ValueError: another suffix.
    """
    suffix = output.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(output, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(output, index=False)
    else:
        raise ValueError(f"--output {output}: use a .csv or .parquet file name")


def input_verdicts(scored: pd.DataFrame) -> list[str]:
    """One line per input with several faces or a video: its verdict and the rule behind it."""
    lines = []
    for path, rows in scored.groupby("path", sort=False):
        if len(rows) < 2 and rows["frames"].isna().all():
            continue
        kind = "video" if rows["frames"].notna().any() else "image"
        unit = "tracks" if kind == "video" else "faces"
        first = rows.iloc[0]
        lines.append(
            f"{kind} {path}: {first['image_prediction']} ({first['image_fake_probability']:.3f}, "
            f"{len(rows)} {unit}; {IMAGE_RULE})"
        )
    return lines


def write_track_plots(scored: pd.DataFrame, folder: Path) -> list[Path]:
    """A score-over-time PNG per video track (``<n>_<video stem>_track<k>.png``); returns the files."""
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, row in enumerate(scored.itertuples(index=False)):
        if row.track_scores is None or pd.isna(row.track_scores):
            continue
        points = json.loads(row.track_scores)
        figure = Figure(figsize=(6, 3), layout="constrained")
        axes = figure.add_subplot()
        axes.plot(
            [t for t, _ in points], [p for _, p in points], marker="o", label=f"face track {row.face_index}"
        )
        axes.axhline(float(row.threshold), color="black", linestyle="--", label="threshold")
        axes.set_ylim(0, 1)
        axes.set_xlabel("time in the video (s)")
        axes.set_ylabel("fake probability")
        axes.set_title(
            f"{Path(str(row.path)).name}: track {row.face_index} (mean {row.fake_probability:.3f})"
        )
        axes.legend(loc="upper right")
        target = folder / f"{index:04d}_{Path(str(row.path)).stem}_track{row.face_index}.png"
        figure.savefig(target, dpi=100)
        written.append(target)
    return written
