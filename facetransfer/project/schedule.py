"""Installing and removing the local retraining schedule (a crontab entry or a systemd timer).

The local ZenML orchestrator refuses ``schedule:``; on a laptop or a single server the schedule
therefore lives in the system scheduler and calls the same command a user would type:
``facetransfer retrain``, which runs the pipeline only when the data changed.

Each installed schedule is tagged with the project root, so ``--remove`` removes exactly the
entry of this project and leaves every other line of the crontab alone.
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
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f"invalid cron expression {expression!r}: expected 5 fields, e.g. '0 3 * * *'")
    return " ".join(fields)


# --- crontab -------------------------------------------------------------------------------------


def crontab_block(cron: str, command: ScheduledCommand) -> str:
    """The crontab lines of this project's schedule, between begin/end markers."""
    line = command.shell_command().replace("%", r"\%")  # cron turns a bare % into a newline
    return f"# BEGIN {command.marker} ({command.root})\n{cron} {line}\n# END {command.marker}\n"


def without_block(crontab: str, marker: str) -> tuple[str, bool]:
    """``crontab`` with this project's block removed, and whether one was there."""
    kept, inside, found = [], False, False
    for line in crontab.splitlines(keepends=True):
        if line.startswith(f"# BEGIN {marker}"):
            inside, found = True, True
            continue
        if inside:
            if line.startswith(f"# END {marker}"):
                inside = False
            continue
        kept.append(line)
    return "".join(kept), found


def install_crontab(cron: str, command: ScheduledCommand, crontab_file: Path | None = None) -> str:
    """Install (or replace) this project's crontab entry; return the installed block.

    Args:
        cron: 5-field cron expression.
        command: the scheduled command.
        crontab_file: write into this file instead of the user's crontab (for a scheduler that
            reads crontab files, and for tests).
    """
    current = _read_crontab(crontab_file)
    kept, _ = without_block(current, command.marker)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    block = crontab_block(validate_cron(cron), command)
    _write_crontab(kept + block, crontab_file)
    return block


def remove_crontab(command: ScheduledCommand, crontab_file: Path | None = None) -> bool:
    """Remove this project's crontab entry; return whether there was one."""
    kept, found = without_block(_read_crontab(crontab_file), command.marker)
    if found:
        _write_crontab(kept, crontab_file)
    return found


def _read_crontab(crontab_file: Path | None) -> str:
    if crontab_file is not None:
        return crontab_file.read_text(encoding="utf-8") if crontab_file.exists() else ""
    _require("crontab")
    result = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    # `crontab -l` exits 1 with "no crontab for <user>" when the user has none yet.
    return result.stdout if result.returncode == 0 else ""


def _write_crontab(content: str, crontab_file: Path | None) -> None:
    if crontab_file is not None:
        crontab_file.parent.mkdir(parents=True, exist_ok=True)
        crontab_file.write_text(content, encoding="utf-8")
        return
    result = subprocess.run(["crontab", "-"], input=content, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ScheduleError(f"crontab refused the new table: {result.stderr.strip()}")


# --- systemd timer -------------------------------------------------------------------------------

WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def cron_to_on_calendar(cron: str) -> str:
    """Translate a cron expression into a systemd ``OnCalendar=`` value.

    Supports numbers, ``*``, lists (``1,5``), ranges (``1-5``) and steps (``*/15``, ``0-30/5``) in
    each field, which covers what schedules of this kind use.
    """
    minute, hour, day, month, weekday = validate_cron(cron).split()

    def field(value: str, *, first: int) -> str:
        # cron's `*/n` starts at the field's first value: minute/hour 0, day/month 1.
        parts = []
        for part in value.split(","):
            base, _, step = part.partition("/")
            if base == "*" and step:
                base = str(first)
            base = "..".join(v.zfill(2) if v.isdigit() else v for v in base.split("-"))
            parts.append(f"{base}/{step}" if step else base)
        return ",".join(parts)

    def weekdays(value: str) -> str:
        if value == "*":
            return ""
        names = []
        for part in value.split(","):
            if "/" in part:
                raise ScheduleError(f"day-of-week steps ({part}) have no systemd equivalent; use crontab")
            ends = [WEEKDAYS[int(v) % 7] for v in part.split("-")]
            names.append("..".join(ends))
        return ",".join(names) + " "

    return (
        f"{weekdays(weekday)}*-{field(month, first=1)}-{field(day, first=1)} "
        f"{field(hour, first=0)}:{field(minute, first=0)}:00"
    )


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
