"""The local retraining schedule: crontab entries and systemd timers written to temporary places."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from crontab import CronSlices

from facetransfer.project.schedule import (
    ScheduledCommand,
    ScheduleError,
    cron_to_on_calendar,
    install_crontab,
    install_systemd_timer,
    remove_crontab,
    remove_systemd_timer,
)


@pytest.fixture
def command(tmp_path: Path) -> ScheduledCommand:
    root = tmp_path / "project with space"
    root.mkdir()
    return ScheduledCommand(
        root=root, config="zenml_config.yaml", log_file=root / ".local" / "logs" / "retrain.log"
    )


def test_crontab_entry_runs_retrain_in_the_project_environment(tmp_path, command, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    crontab = tmp_path / "crontab"
    crontab.write_text("MAILTO=ops\n15 1 * * * /usr/bin/backup\n")
    block = install_crontab("0 3 * * *", command, crontab_file=crontab)

    lines = crontab.read_text().splitlines()
    assert lines[:2] == ["MAILTO=ops", "15 1 * * * /usr/bin/backup"]
    entry = next(line for line in lines if line.startswith("0 3 * * * "))
    assert CronSlices.is_valid(" ".join(entry.split()[:5]))
    shell = entry.split(" ", 5)[5]
    words = shlex.split(shell)
    assert words[:2] == ["cd", str(command.root)]
    assert "retrain" in words and "zenml_config.yaml" in words
    executable = next(w for w in words if w.endswith("/facetransfer"))
    assert Path(executable).parent == Path(sys.executable).parent
    assert "ZENML_ANALYTICS_OPT_IN=false" in words
    assert "MLFLOW_TRACKING_URI=http://mlflow.example:5000" in words
    assert words[-2:] == ["#", command.marker]  # the comment that finds the entry again
    assert block in crontab.read_text()


def test_reinstall_replaces_and_remove_removes_exactly_this_project(tmp_path, command):
    crontab = tmp_path / "crontab"
    other = ScheduledCommand(root=tmp_path / "other", config="c.yaml", log_file=tmp_path / "o.log")
    install_crontab("0 4 * * *", other, crontab_file=crontab)
    install_crontab("0 3 * * *", command, crontab_file=crontab)
    install_crontab("30 2 * * 1", command, crontab_file=crontab)  # replaces, does not add
    text = crontab.read_text()
    assert text.count(command.marker) == 1
    assert "30 2 * * 1 " in text and "0 3 * * * " not in text

    assert remove_crontab(command, crontab_file=crontab)
    text = crontab.read_text()
    assert command.marker not in text
    assert other.marker in text and "0 4 * * * " in text
    assert not remove_crontab(command, crontab_file=crontab)


def test_scheduled_shell_line_is_valid_sh(tmp_path, command):
    install_crontab("0 3 * * *", command, crontab_file=tmp_path / "crontab")
    entry = next(line for line in (tmp_path / "crontab").read_text().splitlines() if line.startswith("0 3"))
    shell = entry.split(" ", 5)[5]
    assert subprocess.run(["sh", "-n", "-c", shell], check=False).returncode == 0


@pytest.mark.parametrize("bad", ["0 3 * *", "61 3 * * *", "every night"])
def test_invalid_cron_is_refused(tmp_path, command, bad):
    with pytest.raises(ScheduleError, match="invalid cron"):
        install_crontab(bad, command, crontab_file=tmp_path / "crontab")
    assert not (tmp_path / "crontab").exists()


@pytest.mark.parametrize(
    ("cron", "calendar"),
    [
        ("0 3 * * *", "*-*-* 03:00:00"),
        ("*/15 * * * *", "*-*-* *:00,15,30,45:00"),
        ("30 2 1 */2 *", "*-01,03,05,07,09,11-01 02:30:00"),
        ("0 6 * * 1-5", "Mon,Tue,Wed,Thu,Fri *-*-* 06:00:00"),
        ("5 4 * * 0,6", "Sun,Sat *-*-* 04:05:00"),
        ("0 9-17/2 * * *", "*-*-* 09,11,13,15,17:00:00"),
        ("0 0 * * 7", "Sun *-*-* 00:00:00"),
    ],
)
def test_cron_translates_to_systemd_calendar(cron, calendar):
    assert cron_to_on_calendar(cron) == calendar
    if shutil.which("systemd-analyze"):  # systemd's own parser agrees where it is installed
        checked = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_cron_with_both_day_fields_is_refused_for_systemd():
    # cron fires when either day field matches, systemd only when both do: no faithful translation.
    with pytest.raises(ScheduleError, match="both day of month and day of week"):
        cron_to_on_calendar("0 3 1 * 1")


def test_systemd_timer_units_are_written_and_removed(tmp_path, command):
    unit_dir = tmp_path / "units"
    timer = install_systemd_timer("0 3 * * *", command, unit_dir, activate=False)
    service = timer.with_suffix(".service")
    assert "OnCalendar=*-*-* 03:00:00" in timer.read_text()
    assert "retrain --config zenml_config.yaml" in service.read_text()
    assert remove_systemd_timer(command, unit_dir, activate=False)
    assert list(unit_dir.iterdir()) == []


def test_schedule_command_installs_and_removes_the_entry(tmp_path):
    from click.testing import CliRunner

    from facetransfer.cli import main

    crontab = tmp_path / "crontab"
    crontab.write_text("0 1 * * * /usr/bin/other-job\n")
    runner = CliRunner()
    installed = runner.invoke(
        main, ["schedule", "--root", str(tmp_path), "--cron", "0 3 * * *", "--crontab-file", str(crontab)]
    )
    assert installed.exit_code == 0, installed.output
    assert "/facetransfer retrain --config zenml_config.yaml >> " in crontab.read_text()
    removed = runner.invoke(
        main, ["schedule", "--root", str(tmp_path), "--remove", "--crontab-file", str(crontab)]
    )
    assert removed.exit_code == 0 and "removed" in removed.output
    assert crontab.read_text() == "0 1 * * * /usr/bin/other-job\n"
    wrong = runner.invoke(main, ["schedule", "--root", str(tmp_path), "--crontab-file", str(crontab)])
    assert wrong.exit_code != 0 and "either --cron" in wrong.output
