"""Helpers to log params, tables, figures and provenance into the active MLflow run."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from facetransfer.jsonable import to_jsonable
from facetransfer.tracking.tables import to_markdown

logger = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 6000
"""MLflow rejects longer parameter values; longer ones are logged as JSON artifacts instead."""


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into ``a.b.c`` keys (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def log_params(params: Mapping[str, Any], prefix: str = "") -> None:
    """Log (nested) parameters to the active run; values too long for MLflow go to a JSON file."""
    import mlflow

    flat = flatten(params, prefix)
    short = {k: v for k, v in flat.items() if len(str(v)) <= MAX_PARAM_LENGTH}
    long = {k: v for k, v in flat.items() if k not in short}
    mlflow.log_params({k: str(v) for k, v in short.items()})
    if long:
        mlflow.log_dict(long, "params/long_params.json")


def log_table(frame: pd.DataFrame, stem: str) -> None:
    """Log a table to the active run as ``<stem>.csv`` and ``<stem>.md``."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / f"{Path(stem).name}.csv"
        md_path = Path(tmp) / f"{Path(stem).name}.md"
        frame.to_csv(csv_path, index=False)
        md_path.write_text(to_markdown(frame), encoding="utf-8")
        directory = str(Path(stem).parent) if Path(stem).parent != Path(".") else None
        mlflow.log_artifact(str(csv_path), artifact_path=directory)
        mlflow.log_artifact(str(md_path), artifact_path=directory)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact of the active run."""
    import mlflow

    mlflow.log_figure(figure, artifact_file)


def log_json(payload: Any, artifact_file: str) -> None:
    """Log an object as a JSON artifact (see ``to_jsonable``: NaN written as null)."""
    import mlflow

    mlflow.log_text(json.dumps(to_jsonable(payload), indent=2), artifact_file)


GIT_COMMIT_TAG = "mlflow.source.git.commit"
"""MLflow's own source tag (its UI shows it as the run's version)."""


def git_source_tags(root: str | Path) -> dict[str, str]:
    """MLflow's git commit tag for the checkout at ``root``, and whether tracked files changed.

    MLflow tags a run with the repository of ``sys.argv[0]``: inside a ZenML step that is the
    ``zenml`` executable, which lives in the git-ignored ``.venv`` (MLflow then sets nothing), or
    in another repository altogether, or in a container without ``.git``. So the project root is
    looked up here (GitPython, MLflow's own git dependency), with the dirty flag MLflow lacks.

    Returns:
        ``{"mlflow.source.git.commit": sha, "git.dirty": "true"|"false"}``, or ``{}`` (with a
        warning) when ``root`` is not a git checkout or git is not installed.
    """
    try:
        from git import GitError, Repo
    except ImportError as error:  # GitPython refuses to import when no git executable is found
        logger.warning("cannot read the git commit of %s: %s", root, error)
        return {}
    try:
        repo = Repo(root, search_parent_directories=True)
        commit = repo.head.commit.hexsha
        dirty = repo.is_dirty(index=True, working_tree=True, untracked_files=False)
    except (GitError, ValueError, OSError) as error:  # not a checkout, or one without commits
        logger.warning("cannot read the git commit of %s: %s", root, error)
        return {}
    return {GIT_COMMIT_TAG: commit, "git.dirty": str(dirty).lower()}
