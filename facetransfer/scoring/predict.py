"""Scoring images with a registered detector (``facetransfer predict``)."""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from facetransfer.faces.video import VIDEO_EXTENSIONS
from facetransfer.ingestion.readers.paths import find_image_files, is_link_loop
from facetransfer.ingestion.sources import IMAGE_EXTENSIONS
from facetransfer.scoring.scorer import IMAGE_RULE

logger = logging.getLogger(__name__)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named by ``inputs`` (files, or folders searched recursively, hidden entries skipped).

    Linked folders are followed; a link that loops is not, and is named in a warning. A named path
    that is not a regular file (a FIFO, a device) is kept: decoding refuses it without opening
    it, so it gets an error row instead of hanging the run.

    Raises:
        FileNotFoundError: an input does not exist, or no image was found.
    """
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            listing = find_image_files(item, extensions=IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
            images += listing.files
            for link in listing.skipped_links:
                logger.log(logging.WARNING if link.loop else logging.INFO, "%s: %s", link.link, link.reason)
        elif item.exists():
            images.append(item)
        elif is_link_loop(item):
            logger.warning("%s: symbolic links that point at each other (a loop); not scored", item)
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

STEM_BYTES = 100
"""Most bytes of an input's file name kept in the names of files written for it: the row number
keeps them unique, and the whole name stays far below the 255 bytes file systems allow."""


def ensure_writable_folder(folder: Path) -> Path:
    """Create ``folder`` (with its parents) if missing and check that a file can be written in it.

    Called before any image is scored, so that a wrong output path costs nothing.

    Raises:
        NotADirectoryError: ``folder`` or one of its parents is a file (named in the message).
        OSError: the folder cannot be created or written to (permissions, read-only file system).
    """
    for existing in (folder, *folder.parents):
        if existing.exists():
            if not existing.is_dir():
                raise NotADirectoryError(f"{existing} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OSError(f"cannot write into {folder}: {error.strerror or error}") from error
    return folder


def output_name(index: int, path: str, suffix: str) -> str:
    """``<index>_<stem><suffix>`` with the stem cut to ``STEM_BYTES`` bytes (whole characters)."""
    stem = Path(path).stem.encode("utf-8", "surrogateescape")[:STEM_BYTES].decode("utf-8", "ignore")
    return f"{index:04d}_{stem}{suffix}"


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
    # absolute, links kept: resolve() would raise on a link that loops (its row gets the error)
    frame = pd.DataFrame({"path": [os.path.abspath(p) for p in images]})
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

    Files: ``<row>_<image stem>.png`` per explained image (the stem cut to ``STEM_BYTES``), and
    ``regions.csv`` (``path``, ``region``, ``contribution``: the fake probability the region adds)
    for all of them. An overlay that cannot be written is that row's problem: it is logged with
    the image and the reason, the row's ``explanation`` stays empty and the others are written.
    """
    ensure_writable_folder(folder)
    names: list[str | None] = []
    rows = []
    for index, row in enumerate(scored.itertuples(index=False)):
        if row.explanation_png is None:
            names.append(None)
            continue
        face = "" if pd.isna(row.face_index) else f"_face{int(row.face_index)}"
        target = folder / output_name(index, str(row.path), f"{face}.png")
        try:
            target.write_bytes(base64.b64decode(row.explanation_png))
        except OSError as error:
            logger.warning(
                "explanation of %s not written to %s: %s", row.path, target, error.strerror or error
            )
            names.append(None)
        else:
            names.append(str(target))
        rows += [
            {"path": row.path, "region": region, "contribution": value}
            for region, value in json.loads(row.regions).items()
        ]
    table = pd.DataFrame(rows, columns=["path", "region", "contribution"])
    try:
        table.to_csv(folder / "regions.csv", index=False)
    except OSError as error:  # the scores are worth more than the table: keep going
        logger.warning("regions table not written to %s: %s", folder / "regions.csv", error.strerror or error)
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

    ensure_writable_folder(folder)
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
        target = folder / output_name(index, str(row.path), f"_track{row.face_index}.png")
        figure.savefig(target, dpi=100)
        written.append(target)
    return written
