"""Seeded, leakage-free and stable train/val/test assignment.

Rows are first joined into groups that must share a split: rows with the same ``sha256``
(identical files, also across sources) and rows with the same ``identity`` (one person), joined
transitively. Each group then gets the split given by a seeded hash of its key: the hash is
mapped to [0, 1) and compared with the cumulative split ratios.

Consequences, by construction:

* leakage-free: a sha256 or an identity never appears in two splits;
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
    """Key of the group each row belongs to (rows linked by equal ``sha256`` or ``identity``).

    The groups are the connected components of the graph linking each ``sha256:<hash>`` key to
    its row's ``identity:<id>`` key (scipy). The key of a group is the smallest of its members'
    keys, so it does not depend on row order.
    """
    sha_keys = "sha256:" + frame["sha256"].astype(str)
    if "identity" not in frame or frame["identity"].isna().all():
        return sha_keys
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    linked = frame["identity"].map(lambda identity: isinstance(identity, str)).to_numpy(dtype=bool)
    identity_keys = "identity:" + frame["identity"][linked].astype(str)
    codes, nodes = pd.factorize(pd.concat([sha_keys, identity_keys], ignore_index=True))
    sha_codes, identity_codes = codes[: len(sha_keys)], codes[len(sha_keys) :]
    edges = coo_array(
        (np.ones(identity_codes.size), (sha_codes[linked], identity_codes)), shape=(nodes.size, nodes.size)
    )
    _, component = connected_components(edges, directed=False)
    smallest_key = pd.Series(nodes).groupby(component).min()
    return pd.Series(smallest_key.to_numpy()[component[sha_codes]], index=frame.index, name=sha_keys.name)


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
