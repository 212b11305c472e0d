"""DVC versioning in temporary git repositories: remote config, round trip, regeneration of demo data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from dvc.repo import Repo
from tree_builders import TINY_DEMO

from facetransfer.demo import DemoSummary, generate_demo_data
from facetransfer.demo.provision import ensure_data
from facetransfer.ingestion.errors import DataVersionError
from facetransfer.ingestion.manifest import build_manifest
from facetransfer.ingestion.versioning import (
    configure_default_remote,
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


def test_a_workspace_that_differs_from_the_pointer_is_an_error_naming_files_and_fixes(
    git_repo: Path,
) -> None:
    ensure_data(git_repo, demo_options=TINY_DEMO)
    assert ensure_data(git_repo).action == "present"  # in sync: DVC's status is clean
    image = next((git_repo / "data" / "detection" / "ffhq").rglob("*.png"))
    image.write_bytes(image.read_bytes() + b"edited")
    (git_repo / "data" / "detection" / "ffhq" / "stray.png").write_bytes(image.read_bytes())
    with pytest.raises(DataVersionError) as raised:
        ensure_data(git_repo)
    message = str(raised.value)
    assert "does not match data.dvc" in message and image.name in message and "stray.png" in message
    assert "dvc checkout data.dvc" in message and "facetransfer ensure-data" in message
    (git_repo / "data" / "detection" / "ffhq" / "stray.png").unlink()
    with Repo(str(git_repo)) as repo:  # what the message tells the user to run
        repo.checkout(targets=[str(git_repo / "data.dvc")], force=True)
    assert ensure_data(git_repo).action == "present"


def test_data_identity_is_the_verified_dvc_version_when_dvc_tracks_every_source(
    git_repo: Path, tmp_path: Path
) -> None:
    from facetransfer.config import DataSettings
    from facetransfer.workflow.ingestion import current_data_identity, ingest

    ensure_data(git_repo, demo_options=TINY_DEMO)
    md5 = read_dvc_md5(git_repo / "data.dvc")
    segmentation = {"name": "seg", "format": "mut1ny", "path": "data/segmentation"}
    detection = {"name": "det", "format": "artifact", "path": "data/detection", "real": ["ffhq", "celebahq"]}
    tracked = DataSettings(
        cache_dir=str(tmp_path / "cache"), segmentation_sources=[segmentation], detection_sources=[detection]
    )
    assert ingest(tracked, "detection", base=git_repo)[2]["data_identity"] == f"dvc:{md5}"
    assert current_data_identity(tracked, base=git_repo) == f"dvc:{md5}"
    outside = tmp_path / "mine"
    generate_demo_data(outside, TINY_DEMO)
    moved = tracked.detection_sources[0].model_copy(update={"path": str(outside / "detection")})
    elsewhere = tracked.model_copy(update={"detection_sources": [moved]})
    identity = current_data_identity(elsewhere, base=git_repo)
    assert identity.startswith("combined:")  # DVC does not cover the data: content hashes stand in
    image = next((git_repo / "data" / "segmentation").rglob("*.png"))
    image.write_bytes(image.read_bytes() + b"x")
    with pytest.raises(DataVersionError, match=r"does not match data\.dvc"):
        current_data_identity(tracked, base=git_repo)
