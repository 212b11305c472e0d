"""Provenance: MLflow's git commit tag of the project checkout, with the dirty flag."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from facetransfer.tracking.runs import GIT_COMMIT_TAG, git_source_tags

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(root: Path, *args: str) -> str:
    command = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def test_commit_and_dirty_flag_of_the_checkout(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "tracked.txt").write_text("one")
    _git(tmp_path, "add", "tracked.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "untracked.txt").write_text("ignored by the dirty flag")
    (tmp_path / "sub").mkdir()
    assert git_source_tags(tmp_path / "sub") == {GIT_COMMIT_TAG: head, "git.dirty": "false"}
    (tmp_path / "tracked.txt").write_text("two")
    assert git_source_tags(tmp_path) == {GIT_COMMIT_TAG: head, "git.dirty": "true"}


def test_outside_a_checkout_no_tag_is_set(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert git_source_tags(tmp_path) == {}
    assert "cannot read the git commit" in caplog.text
