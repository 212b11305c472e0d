"""Fixtures of the data-layer tests: small image trees written on the fly, tiny demo data, DVC repos."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from facetransfer.demo import DemoOptions, DemoSummary, generate_demo_data
from facetransfer.environment import quiet_third_party_telemetry


@pytest.fixture(scope="session", autouse=True)
def _quiet_tools() -> None:
    quiet_third_party_telemetry()


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    """Demo data at 64 px with enough images for validation (generated once per session)."""
    out = tmp_path_factory.mktemp("demo") / "data"
    options = DemoOptions(
        segmentation_images=64, real_images={"ffhq": 48, "celebahq": 48}, fake_images_per_generator=32
    )
    return out, generate_demo_data(out, options)


@pytest.fixture(scope="session")
def demo_manifest(demo_root: tuple[Path, DemoSummary], tmp_path_factory: pytest.TempPathFactory):
    """``build_manifest`` of the session demo data."""
    from facetransfer.ingestion.manifest import build_manifest

    out, summary = demo_root
    return build_manifest(
        summary.source_configs(), root=out.parent, cache_dir=tmp_path_factory.mktemp("cache")
    )


@pytest.fixture
def git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git + DVC repository; the default DVC remote goes to a temporary user cache dir."""
    from dvc.repo import Repo

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    Repo.init(str(repo))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv("FACETRANSFER_DVC_REMOTE", raising=False)
    return repo
