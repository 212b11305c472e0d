"""Seeded, leakage-free and stable train/val/test assignment.

Rows are first joined into groups that must share a split: rows with the same ``sha256``
(identical files, also across sources), rows with the same ``identity`` (one person) and the face
crops of one picture (same ``source_sha256``, ``faces: align``), joined transitively. Each group
then gets the split given by a seeded hash of its key: the hash is mapped to [0, 1) and compared
with the cumulative split ratios.

Consequences, by construction:

* leakage-free: a sha256, an identity or the crops of one picture never appear in two splits;
* stable: a file keeps its split when other files are added or removed (a new generator folder
  changes nothing for existing files), so "the current test split" stays comparable across
  retrainings; only a file that joins an existing group through a new duplicate or identity
  can move with its group;
* stratified in expectation: every label × source/generator stratum is split by the same
  ratios independently of the others; exact per-stratum counts vary binomially (about
  ±sqrt(n·p·(1-p)) rows), and ``split_counts_by_stratum`` reports them.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def validate_ratios(ratios: tuple[float, float, float]) -> tuple[float, float, float]:
    """Check that the train/val/test ratios are three non-negative numbers summing to 1."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or not math.isclose(sum(ratios), 1.0, abs_tol=1e-9):
        raise ValueError(f"split_ratios must be three non-negative numbers summing to 1, got {ratios}")
    return (float(ratios[0]), float(ratios[1]), float(ratios[2]))


def group_keys(frame: pd.DataFrame) -> pd.Series:
    """Key of the group each row belongs to (rows linked by equal ``sha256``, picture or ``identity``).

    The groups are the connected components of the graph linking each row's ``sha256:<hash>`` key
    to its ``identity:<id>`` key and, for a face crop (``faces: align``), to the key of the
    picture it was cut from (``sha256:<source_sha256>``): every crop of a picture, and any
    identical copy of the picture elsewhere, share a split. The key of a group is the smallest key
    of its pictures, files and identities (a crop's own hash names no group), so it does not
    depend on row order, and a picture keeps its split when its source switches between
    ``faces: as_is`` and ``faces: align`` or its crops are cut with other settings.
    """
    sha_keys = "sha256:" + frame["sha256"].astype(str)
    crops, linked = _has_text(frame, "source_sha256"), _has_text(frame, "identity")
    if not crops.any() and not linked.any():
        return sha_keys
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    picture_keys = _prefixed(frame, crops, "source_sha256", "sha256:")
    identity_keys = _prefixed(frame, linked, "identity", "identity:")
    codes, nodes = pd.factorize(pd.concat([sha_keys, picture_keys, identity_keys], ignore_index=True))
    sha_codes = codes[: len(sha_keys)]
    picture_codes = codes[len(sha_keys) : len(sha_keys) + len(picture_keys)]
    identity_codes = codes[len(sha_keys) + len(picture_keys) :]
    edges = coo_array(
        (
            np.ones(picture_codes.size + identity_codes.size),
            (
                np.concatenate([sha_codes[crops], sha_codes[linked]]),
                np.concatenate([picture_codes, identity_codes]),
            ),
        ),
        shape=(nodes.size, nodes.size),
    )
    _, component = connected_components(edges, directed=False)
    naming = np.zeros(nodes.size, dtype=bool)
    naming[sha_codes[~crops]] = naming[picture_codes] = naming[identity_codes] = True
    smallest_key = pd.Series(np.asarray(nodes)[naming]).groupby(component[naming]).min()
    return pd.Series(
        smallest_key.reindex(component[sha_codes]).to_numpy(), index=frame.index, name=sha_keys.name
    )


def _prefixed(frame: pd.DataFrame, rows: np.ndarray, column: str, prefix: str) -> pd.Series:
    """``prefix`` + ``column`` of the selected ``rows`` (empty when none is selected)."""
    if not rows.any():
        return pd.Series(dtype=object)
    return prefix + frame.loc[rows, column].astype(str)


def _has_text(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Rows whose ``column`` holds a string (all ``False`` when the frame has no such column)."""
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)


def assign_splits(
    frame: pd.DataFrame, *, ratios: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> pd.Series:
    """Split of every row (``train``/``val``/``test``), see the module docstring.

    Args:
        frame: rows with ``sha256`` and optionally ``identity``.
        ratios: train, val and test shares.
        seed: changes the assignment of every group.
    """
    train, val, _ = validate_ratios(ratios)
    keys = group_keys(frame)
    unique_keys = keys.unique()
    position = {key: _unit_interval(f"{seed}:{key}") for key in unique_keys}
    split_of = {
        key: "train" if value < train else "val" if value < train + val else "test"
        for key, value in position.items()
    }
    return keys.map(split_of).rename("split")


def _unit_interval(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


def split_counts_by_stratum(manifest: pd.DataFrame) -> list[dict[str, object]]:
    """Rows per split of each label × source × generator stratum (for reports)."""
    if manifest.empty or manifest["split"].isna().all():
        return []
    strata = manifest.assign(generator=manifest["generator"].fillna(""))
    table = strata.groupby(["label", "source", "generator", "split"]).size().unstack("split", fill_value=0)
    table = table.reindex(columns=list(SPLITS), fill_value=0)
    return [
        {"label": int(label), "source": source, "generator": generator or None}
        | {split: int(row[split]) for split in SPLITS}
        for (label, source, generator), row in table.iterrows()
    ]
