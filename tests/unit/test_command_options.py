"""The project-folder option is defined once and every command accepts both of its spellings."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from facetransfer.cli import main


@pytest.mark.parametrize("spelling", ["--root", "--repo-root"])
@pytest.mark.parametrize("command", ["ensure-data", "status", "schedule"])
def test_every_command_takes_both_spellings_of_the_project_folder(
    command: str, spelling: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-project"
    result = CliRunner().invoke(main, [command, spelling, str(missing)])
    assert result.exit_code == 2  # click's usage error: the folder is checked before anything runs
    assert "no-such-project" in result.output and "does not exist" in result.output
    assert "No such option" not in result.output
