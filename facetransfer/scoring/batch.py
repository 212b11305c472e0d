"""Batch scoring of a folder with the registered champion (the work of ``inference_pipeline``).

Any folder layout is scored. When the folder has ``real/`` and ``fake/`` sub-folders (the plain
folder layout), the top-level folder gives each image's label and the run reports detection
metrics too. Unreadable files never stop the batch: they are scored as error rows and listed
with their reasons.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from facetransfer.scoring.predict import collect_images, score_images

logger = logging.getLogger(__name__)

LABEL_FOLDERS = {"real": 0, "fake": 1}


def score_folder(folder: str | Path, *, model_name: str, alias: str, tracking_uri: str) -> pd.DataFrame:
    """Score every image under ``folder`` with ``model_name@alias``.

    Returns:
        Columns ``path``, ``relative_path``, ``folder`` (the parent folder, relative),
        ``label`` (0 real / 1 fake from a top-level ``real``/``fake`` folder, else missing), and
        the serving model's ``fake_probability``, ``prediction``, ``threshold``,
        ``model_version``, ``error``.

    Raises:
        FileNotFoundError: the folder does not exist or holds no image.
        LookupError: no such registered model or alias.
    """
    root = Path(folder).resolve()
    scored = score_images(
        collect_images([root]), model_name=model_name, alias=alias, tracking_uri=tracking_uri
    )
    relative = [Path(path).relative_to(root) for path in scored["path"]]
    scored.insert(1, "relative_path", [str(path) for path in relative])
    scored.insert(2, "folder", [str(path.parent) for path in relative])
    scored.insert(
        3, "label", pd.array([LABEL_FOLDERS.get(path.parts[0]) for path in relative], dtype="Int64")
    )
    logger.info(
        "scored %d images under %s (%d unreadable)", len(scored), root, int(scored["error"].notna().sum())
    )
    return scored


def folder_counts(scored: pd.DataFrame) -> pd.DataFrame:
    """Per folder: images (and videos), faces found, scored, unreadable, flagged as fake (by the
    image's verdict: its highest face score), and the share flagged."""
    images = scored.assign(faces=scored.groupby("path")["face_found"].transform("sum")).drop_duplicates(
        "path"
    )
    grouped = images.assign(
        scored=images["error"].isna(),
        unreadable=images["error"].notna(),
        flagged=images["image_prediction"] == "fake",
    ).groupby("folder", sort=True)
    counts = grouped.agg(
        images=("path", "size"),
        faces=("faces", "sum"),
        scored=("scored", "sum"),
        unreadable=("unreadable", "sum"),
        flagged=("flagged", "sum"),
    )
    counts["share_flagged"] = counts["flagged"] / counts["scored"].where(counts["scored"] > 0)
    return counts.reset_index()


def score_histogram(scored: pd.DataFrame, *, title: str = "") -> Figure:
    """Histogram of fake probabilities (split by label when known) with the threshold."""
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    good = scored[scored["error"].isna()]
    bins = [i / 40 for i in range(41)]
    if good["label"].notna().any():
        for label, name in ((0, "real/"), (1, "fake/")):
            axes.hist(good.loc[good["label"] == label, "fake_probability"], bins=bins, alpha=0.6, label=name)
        axes.legend()
    else:
        axes.hist(good["fake_probability"], bins=bins)
    if len(good):
        axes.axvline(float(good["threshold"].iloc[0]), color="black", linestyle="--", label="threshold")
    axes.set_xlabel("fake probability")
    axes.set_ylabel("images")
    axes.set_title(title)
    return figure
