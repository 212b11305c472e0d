"""Scoring images with a registered detector (``facetransfer predict``)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from facetransfer.ingestion.readers.paths import list_image_files
from facetransfer.ingestion.sources import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named by ``inputs`` (files, or folders searched recursively, hidden entries skipped).

    Raises:
        FileNotFoundError: an input does not exist, or no image was found.
    """
    images: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            images += list_image_files(item)
        elif item.is_file():
            images.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(map(str, inputs))}")
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
        explain_dir: if given, each image's region explanation is written there (``<n>_<stem>.png``
            overlays and ``regions.csv``) and the column ``explanation`` names the PNG.

    Returns:
        Columns ``path``, ``fake_probability``, ``prediction`` (``fake``/``real``), ``threshold``,
        ``model_version``, ``error`` (and ``explanation``).
    """
    model = load_scoring_model(model_name, alias, tracking_uri)
    frame = pd.DataFrame({"path": [str(p.resolve()) for p in images]})
    params = {"explain": explain_dir is not None}
    parts = [
        model.predict(frame.iloc[start : start + CHUNK_ROWS], params=params)
        for start in range(0, len(frame), CHUNK_ROWS)
    ]
    result = pd.concat([frame, pd.concat(parts, ignore_index=True)], axis=1)
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
        target = folder / f"{index:04d}_{Path(str(row.path)).stem}.png"
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
