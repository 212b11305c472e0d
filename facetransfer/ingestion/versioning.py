"""DVC versioning of ``data/``: the data hash, the default remote, and getting the data onto a machine.

``data/`` is tracked by ``data.dvc`` at the repository root; its md5 is the data hash that every
run records. All DVC operations go through the Python API (``dvc.repo.Repo``), imported lazily.

Remote. Unless the repository's DVC config already names a default remote (a team's S3, GCS or
Azure remote: configuration only, e.g. ``dvc remote add -d team s3://bucket/path``), a local
directory outside the repository is used: ``$FACETRANSFER_DVC_REMOTE`` if set, else
``$XDG_CACHE_HOME/facetransfer/dvc-remote`` (``~/.cache/...`` without XDG). It is written to DVC's
*local* config (``.dvc/config.local``, not committed), so no machine path enters git.

How a fresh clone gets its data (the demo's or a remote's) is ``facetransfer.demo.provision``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from facetransfer.ingestion.errors import DataVersionError

logger = logging.getLogger(__name__)

DEFAULT_REMOTE_NAME = "facetransfer-local"
REMOTE_ENV_VARIABLE = "FACETRANSFER_DVC_REMOTE"
META_KEY = "facetransfer"

__all__ = [
    "TrackedData",
    "configure_default_remote",
    "default_remote_url",
    "open_repo",
    "push_pointer",
    "read_dvc_md5",
    "read_dvc_meta",
    "track_data",
    "verify_workspace",
]


def default_remote_url() -> str:
    """The default remote: ``$FACETRANSFER_DVC_REMOTE`` or ``<user cache dir>/facetransfer/dvc-remote``."""
    configured = os.environ.get(REMOTE_ENV_VARIABLE)
    if configured:
        return configured
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(cache_home) / "facetransfer" / "dvc-remote")


@contextmanager
def open_repo(repo_root: Path) -> Iterator[Any]:
    from dvc.repo import Repo

    if not (repo_root / ".dvc").is_dir():
        logger.info("initialising DVC in %s", repo_root)
        Repo.init(str(repo_root))
    with Repo(str(repo_root)) as repo:
        yield repo


def configure_default_remote(repo_root: str | Path, url: str | None = None) -> str:
    """Make sure DVC has a default remote; return its URL.

    Args:
        repo_root: the repository.
        url: remote to set as default (in the local config). ``None`` keeps a default remote the
            DVC config already names, else sets ``default_remote_url()``.
    """
    repo_root = Path(repo_root)
    with open_repo(repo_root) as repo:
        existing = repo.config["core"].get("remote")
        if url is None and existing:
            return str(repo.config["remote"][existing]["url"])
        url = url or default_remote_url()
        if "://" not in url:
            Path(url).mkdir(parents=True, exist_ok=True)
        with repo.config.edit("local") as config:
            config["remote"][DEFAULT_REMOTE_NAME] = {"url": url}
            config["core"]["remote"] = DEFAULT_REMOTE_NAME
    logger.info("DVC default remote %s = %s (local config)", DEFAULT_REMOTE_NAME, url)
    return url


def read_dvc_md5(dvc_file: str | Path) -> str:
    """md5 of the (single) output of a ``.dvc`` file, e.g. ``data.dvc``.

    Raises:
        DataVersionError: the file is missing or has no output md5.
    """
    document = _read_dvc_file(Path(dvc_file))
    try:
        return str(document["outs"][0]["md5"])
    except (KeyError, IndexError, TypeError):
        raise DataVersionError(f"{dvc_file} has no 'outs[0].md5'; is it a DVC pointer file?") from None


def read_dvc_meta(dvc_file: str | Path) -> dict[str, Any]:
    """This project's entry (``meta.facetransfer``) of a ``.dvc`` file, ``{}`` if absent."""
    meta = _read_dvc_file(Path(dvc_file)).get("meta") or {}
    return dict(meta.get(META_KEY) or {})


def _read_dvc_file(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise DataVersionError(f"DVC pointer {path} not found")
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise DataVersionError(f"{path} is not a DVC pointer file (top level is not a mapping)")
    return document


def write_dvc_meta(dvc_file: str | Path, entry: dict[str, Any] | None) -> None:
    """Set (or with ``None`` remove) ``meta.facetransfer`` in a ``.dvc`` file; DVC keeps it on re-add."""
    import yaml

    path = Path(dvc_file)
    document = _read_dvc_file(path)
    meta = dict(document.get("meta") or {})
    if entry is None:
        meta.pop(META_KEY, None)
    else:
        meta[META_KEY] = entry
    if meta:
        document["meta"] = meta
    else:
        document.pop("meta", None)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


class TrackedData(NamedTuple):
    """Outcome of ``track_data``: the data hash before (``None`` without pointer) and after, and the push."""

    old_md5: str | None
    new_md5: str
    pushed: bool


def track_data(repo_root: str | Path, data_dir: str = "data", *, push: bool = True) -> TrackedData:
    """``dvc add <data_dir>`` and, if asked, ``dvc push`` (a failed push is logged, not raised)."""
    repo_root = Path(repo_root)
    dvc_file = repo_root / f"{data_dir}.dvc"
    old = read_dvc_md5(dvc_file) if dvc_file.is_file() else None
    if push:
        configure_default_remote(repo_root)  # keeps a configured remote, else sets the default one
    with open_repo(repo_root) as repo:
        repo.add(str(repo_root / data_dir))
    return TrackedData(old, read_dvc_md5(dvc_file), push_pointer(repo_root, dvc_file) if push else False)


def push_pointer(repo_root: Path, dvc_file: Path) -> bool:
    """``dvc push`` the pointer's data; on failure log what to run later and return False."""
    from dvc.exceptions import DvcException

    try:
        with open_repo(repo_root) as repo:
            repo.push(targets=[str(dvc_file)])
    except DvcException as error:
        logger.warning(
            "dvc push of %s failed (%s); run `dvc push` when the remote is reachable", dvc_file, error
        )
        return False
    return True


def verify_workspace(repo_root: str | Path, data_dir: str = "data") -> str:
    """Check with DVC's own status that ``<data_dir>/`` holds exactly what ``<data_dir>.dvc`` names.

    Returns:
        The md5 of the pointer: the version of the data every run then reads.

    Raises:
        DataVersionError: the workspace differs (the message lists changed files and the commands
            that fix it), or the pointer is missing.
    """
    repo_root = Path(repo_root)
    dvc_file = repo_root / f"{data_dir}.dvc"
    expected = read_dvc_md5(dvc_file)
    with open_repo(repo_root) as repo:
        if not repo.status(targets=[str(dvc_file)]):
            return expected
        changes = repo.data_status(granular=True).get("uncommitted", {})
    examples = [
        f"{kind} {path}"
        for kind, paths in sorted(changes.items())
        for path in paths
        if not path.endswith("/")
    ][:8]
    raise DataVersionError(
        f"{data_dir}/ does not match {dvc_file.name} (md5 {expected}): "
        + ("; ".join(examples) or "its content changed")
        + f". Run `dvc checkout {dvc_file.name}` to restore the version {dvc_file.name} names (or "
        f"`facetransfer ensure-data` on a checkout without the data), or record the change with "
        f"`dvc add {data_dir}` (`facetransfer add-generator` for a new generator) and commit "
        f"{dvc_file.name}."
    )
