"""``facetransfer setup``: everything a fresh clone needs before ``zenml pipeline run``.

Idempotent (a second run changes nothing): git and DVC repositories, the DVC default remote,
the demo data (pulled, or regenerated and verified against ``data.dvc``), the MLflow store and
experiment, and the ZenML repository and stack.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.project.stack import STACK_NAME, ensure_stack

logger = logging.getLogger(__name__)


@dataclass
class SetupReport:
    """What ``setup_project`` found or did, for the summary the CLI prints."""

    root: Path
    tracking_uri: str
    data_action: str = ""
    data_md5: str | None = None
    dvc_remote: str = ""
    actions: list[str] = field(default_factory=list)


def setup_project(root: str | Path, *, dvc_remote: str | None = None, data_dir: str = "data") -> SetupReport:
    """Prepare ``root`` (a checkout of the project) for pipeline runs.

    Args:
        root: the project folder (holds ``pyproject.toml``, ``zenml_config.yaml``, ``data.dvc``).
        dvc_remote: DVC remote URL to use as default (e.g. ``s3://bucket/facetransfer``); by
            default an existing default remote is kept, else a local folder outside the repo.
        data_dir: the DVC-tracked data folder.
    """
    from facetransfer.data.versioning import ensure_data
    from facetransfer.tracking.store import SCORING_EXPERIMENT_NAME, ensure_experiment, resolve_tracking_uri

    quiet_third_party_telemetry()
    root = Path(root).resolve()
    report = SetupReport(root=root, tracking_uri=resolve_tracking_uri(root))
    if not (root / ".git").exists():
        _run(["git", "init", "--quiet"], root)
        report.actions.append("initialised a git repository (DVC needs one)")
    if not (root / ".dvc").is_dir():
        _run(["dvc", "init", "--quiet"], root)
        report.actions.append("initialised DVC")
    _run(["dvc", "config", "core.analytics", "false"], root)
    status = ensure_data(root, data_dir=data_dir, remote_url=dvc_remote)
    report.data_action, report.data_md5, report.dvc_remote = status.action, status.md5, status.remote
    ensure_experiment(report.tracking_uri, root)
    ensure_experiment(report.tracking_uri, root, SCORING_EXPERIMENT_NAME)
    report.actions += ensure_stack(root, report.tracking_uri)
    return report


def describe(report: SetupReport) -> str:
    """Human summary of a set-up: where data, runs and models live and how to look at them."""
    lines = [
        f"project:        {report.root}",
        f"data:           {report.data_action} (md5 {report.data_md5}) - DVC remote {report.dvc_remote}",
        f"MLflow store:   {report.tracking_uri}",
        f"ZenML stack:    {STACK_NAME} (MLflow tracker + registry)",
        *(f"done:           {action}" for action in report.actions),
        "next:           zenml pipeline run pipelines.transfer_pipeline -c zenml_config.yaml",
    ]
    return "\n".join(lines)


def _run(command: list[str], root: Path) -> None:
    from facetransfer.project.stack import executable

    program = executable(command[0])
    result = subprocess.run([program, *command[1:]], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` failed in {root}: {result.stderr.strip() or result.stdout.strip()}"
        )
