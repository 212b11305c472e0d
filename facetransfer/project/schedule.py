"""Installing and removing the local retraining schedule (a crontab entry or a systemd timer).

The local ZenML orchestrator refuses ``schedule:``; on a laptop or a single server the schedule
therefore lives in the system scheduler and calls the same command a user would type:
``facetransfer retrain``, which runs the pipeline only when the data changed.

Each installed schedule carries a comment derived from the project root, so ``--remove`` removes
exactly the entry of this project; python-crontab leaves every other line of the crontab alone.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facetransfer.environment import TELEMETRY_OFF

FORWARDED_VARIABLES = ("MLFLOW_TRACKING_URI", "ZENML_CONFIG_PATH", "ZENML_STORE_URL", "DVC_REMOTE")
"""Variables of the installing shell that the scheduled command keeps (where they are set)."""


class ScheduleError(RuntimeError):
    """The schedule cannot be installed or removed (the message says what to do)."""


@dataclass(frozen=True)
class ScheduledCommand:
    """The exact command the scheduler runs, and where it logs."""

    root: Path
    config: str
    log_file: Path

    @property
    def marker(self) -> str:
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return f"facetransfer-retrain-{digest}"

    def shell_command(self) -> str:
        """One ``/bin/sh`` line: cd to the project, set the environment, run ``facetransfer retrain``."""
        executable = Path(sys.executable).with_name("facetransfer")
        environment = dict(TELEMETRY_OFF)
        environment["PATH"] = f"{executable.parent}:/usr/local/bin:/usr/bin:/bin"
        environment.update({k: os.environ[k] for k in FORWARDED_VARIABLES if os.environ.get(k)})
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(environment.items()))
        return (
            f"cd {shlex.quote(str(self.root))} && mkdir -p {shlex.quote(str(self.log_file.parent))} && "
            f"{assignments} {shlex.quote(str(executable))} retrain --config {shlex.quote(self.config)} "
            f">> {shlex.quote(str(self.log_file))} 2>&1"
        )


def validate_cron(expression: str) -> str:
    """Return ``expression`` if it is a valid 5-field cron expression, else raise ``ScheduleError``."""
    from crontab import CronSlices

    fields = expression.split()
    if len(fields) != 5 or not CronSlices.is_valid(expression):
        raise ScheduleError(f"invalid cron expression {expression!r}: expected 5 fields, e.g. '0 3 * * *'")
    return " ".join(fields)


# --- crontab (python-crontab keeps every other line of the table as it was) ----------------------


def install_crontab(cron: str, command: ScheduledCommand, crontab_file: Path | None = None) -> str:
    """Install (or replace) this project's crontab entry; return the installed line.

    Args:
        cron: 5-field cron expression.
        command: the scheduled command.
        crontab_file: write into this file instead of the user's crontab (for a scheduler that
            reads crontab files, and for tests).
    """
    cron = validate_cron(cron)
    table = _open_crontab(crontab_file)
    table.remove_all(comment=command.marker)
    entry = table.new(command=command.shell_command(), comment=command.marker)
    entry.setall(cron)
    _write_crontab(table, crontab_file)
    return str(entry.render())


def remove_crontab(command: ScheduledCommand, crontab_file: Path | None = None) -> bool:
    """Remove this project's crontab entry; return whether there was one."""
    table = _open_crontab(crontab_file)
    found = table.remove_all(comment=command.marker) > 0
    if found:
        _write_crontab(table, crontab_file)
    return found


def _open_crontab(crontab_file: Path | None) -> Any:
    from crontab import CronTab

    if crontab_file is None:
        _require("crontab")
        try:
            return CronTab(user=True)
        except OSError as error:
            raise ScheduleError(f"cannot read the user's crontab: {error}") from error
    return CronTab(tabfile=str(crontab_file)) if crontab_file.exists() else CronTab(tab="")


def _write_crontab(table: Any, crontab_file: Path | None) -> None:
    if crontab_file is None:
        try:
            table.write()
        except OSError as error:
            raise ScheduleError(f"crontab refused the new table: {error}") from error
        return
    crontab_file.parent.mkdir(parents=True, exist_ok=True)
    table.write(str(crontab_file))


# --- systemd timer -------------------------------------------------------------------------------

WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def cron_to_on_calendar(cron: str) -> str:
    """Translate a cron expression into a systemd ``OnCalendar=`` value (explicit value lists).

    Raises:
        ScheduleError: both day of month and day of week are restricted (cron fires on either,
            systemd only on both), or the expression is invalid.
    """
    from crontab import CronSlices

    minute, hour, day, month, weekday = CronSlices(validate_cron(cron))
    if str(day) != "*" and str(weekday) != "*":
        raise ScheduleError(f"{cron!r} restricts both day of month and day of week; use crontab")

    def values(field: Any, names: tuple[str, ...] | None = None) -> str:
        if str(field) == "*":
            return "*"
        expanded = sorted(
            {v for part in field.parts for v in ([part] if isinstance(part, int) else part.range())}
        )
        return ",".join(names[v % 7] if names else f"{v:02d}" for v in expanded)

    weekdays = "" if str(weekday) == "*" else values(weekday, WEEKDAYS) + " "
    return f"{weekdays}*-{values(month)}-{values(day)} {values(hour)}:{values(minute)}:00"


def install_systemd_timer(cron: str, command: ScheduledCommand, unit_dir: Path, *, activate: bool) -> Path:
    """Write a systemd user service + timer for this project; enable it when ``activate``."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    service = unit_dir / f"{command.marker}.service"
    timer = unit_dir / f"{command.marker}.timer"
    service.write_text(
        f"[Unit]\nDescription=facetransfer retrain for {command.root}\n\n"
        f"[Service]\nType=oneshot\nExecStart=/bin/sh -c {shlex.quote(command.shell_command())}\n",
        encoding="utf-8",
    )
    timer.write_text(
        f"[Unit]\nDescription=Schedule of {service.name} (cron: {cron})\n\n"
        f"[Timer]\nOnCalendar={cron_to_on_calendar(cron)}\nPersistent=true\nUnit={service.name}\n\n"
        "[Install]\nWantedBy=timers.target\n",
        encoding="utf-8",
    )
    if activate:
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", timer.name)
    return timer


def remove_systemd_timer(command: ScheduledCommand, unit_dir: Path, *, activate: bool) -> bool:
    """Disable and delete this project's timer and service; return whether they existed."""
    timer = unit_dir / f"{command.marker}.timer"
    service = unit_dir / f"{command.marker}.service"
    found = timer.exists() or service.exists()
    if found and activate:
        _systemctl("disable", "--now", timer.name)
    for unit in (timer, service):
        unit.unlink(missing_ok=True)
    if found and activate:
        _systemctl("daemon-reload")
    return found


def _systemctl(*args: str) -> None:
    _require("systemctl")
    result = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ScheduleError(f"systemctl --user {' '.join(args)} failed: {result.stderr.strip()}")


def _require(program: str) -> None:
    if shutil.which(program) is None:
        raise ScheduleError(
            f"`{program}` is not installed on this machine; install it, or choose another backend "
            "(--backend crontab|systemd), or write the entry into a file with --crontab-file"
        )
