"""DVC versioning in temporary git repositories: remote config, round trip, regeneration of demo data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from tree_builders import TINY_DEMO

from facetransfer.data.demo import DemoSummary, generate_demo_data
from facetransfer.data.errors import DataVersionError
from facetransfer.data.manifest import build_manifest
from facetransfer.data.versioning import (
    configure_default_remote,
    ensure_data,
    read_dvc_md5,
    read_dvc_meta,
    write_dvc_meta,
)


def _manifest(repo: Path) -> pd.DataFrame:
    sources = DemoSummary(out_dir=repo / "data", options=TINY_DEMO.model_dump(mode="json")).source_configs(
        repo
    )
    return build_manifest(sources, root=repo).manifest


def _forget_local_copies(repo: Path) -> None:
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)


def test_default_remote_is_outside_the_repo_and_only_in_the_local_config(
    git_repo: Path, tmp_path: Path
) -> None:
    url = configure_default_remote(git_repo)
    assert Path(url) == tmp_path / "user-cache" / "facetransfer" / "dvc-remote" and Path(url).is_dir()
    assert url in (git_repo / ".dvc" / "config.local").read_text()
    assert url not in (git_repo / ".dvc" / "config").read_text()
    team = tmp_path / "team-remote"
    (git_repo / ".dvc" / "config.local").unlink()
    (git_repo / ".dvc" / "config").write_text(
        f"[core]\n    remote = team\n['remote \"team\"']\n    url = {team}\n"
    )
    assert configure_default_remote(git_repo) == str(team)  # a configured team remote is kept


def test_round_trip_create_push_delete_pull_gives_the_same_manifest(git_repo: Path) -> None:
    created = ensure_data(git_repo, demo_options=TINY_DEMO)
    assert created.action == "created" and created.md5 == read_dvc_md5(git_repo / "data.dvc")
    assert read_dvc_meta(git_repo / "data.dvc")["demo_options"]["seed"] == 0
    before = _manifest(git_repo)
    _forget_local_copies(git_repo)
    pulled = ensure_data(git_repo)
    assert pulled.action == "pulled" and pulled.md5 == created.md5
    pd.testing.assert_frame_equal(_manifest(git_repo), before)
    assert ensure_data(git_repo).action == "present"


def test_fresh_clone_with_an_empty_remote_regenerates_verifies_and_pushes(
    git_repo: Path, tmp_path: Path
) -> None:
    ensure_data(git_repo, demo_options=TINY_DEMO)
    pointer = (git_repo / "data.dvc").read_bytes()
    before = _manifest(git_repo)
    _forget_local_copies(git_repo)
    shutil.rmtree(tmp_path / "user-cache")  # the new machine's default remote is empty
    status = ensure_data(git_repo)
    assert status.action == "regenerated"
    assert (git_repo / "data.dvc").read_bytes() == pointer
    pd.testing.assert_frame_equal(_manifest(git_repo), before)
    _forget_local_copies(git_repo)
    assert ensure_data(git_repo).action == "pulled"  # the regenerated data was pushed


def test_existing_untracked_data_is_tracked_and_pushed(git_repo: Path) -> None:
    generate_demo_data(git_repo / "data", TINY_DEMO)
    status = ensure_data(git_repo)
    assert status.action == "tracked" and status.md5 == read_dvc_md5(git_repo / "data.dvc")
    assert "demo_options" not in read_dvc_meta(git_repo / "data.dvc")
    _forget_local_copies(git_repo)
    assert ensure_data(git_repo).action == "pulled"


def test_pointer_that_is_not_reproducible_fails_and_leaves_no_data(git_repo: Path, tmp_path: Path) -> None:
    ensure_data(git_repo, demo_options=TINY_DEMO)
    meta = read_dvc_meta(git_repo / "data.dvc")
    meta["demo_options"]["seed"] = 1  # claims other options than those that produced the data
    write_dvc_meta(git_repo / "data.dvc", meta)
    pointer = (git_repo / "data.dvc").read_bytes()
    _forget_local_copies(git_repo)
    shutil.rmtree(tmp_path / "user-cache")
    with pytest.raises(DataVersionError, match="regenerated demo data has md5"):
        ensure_data(git_repo)
    assert (git_repo / "data.dvc").read_bytes() == pointer
    assert not (git_repo / "data").exists()
