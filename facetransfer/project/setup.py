"""``facetransfer setup``: everything a checkout needs before ``zenml pipeline run``.

Idempotent (a second run changes nothing): git and DVC repositories, the DVC default remote,
the data (pulled, or regenerated and verified against ``data.dvc``), the MLflow store and
experiment, the ZenML repository and stack, and the answer to the local ZenML dashboard's account
survey (no email, no news), so that the dashboard opens on the project's runs.

Two modes:

- local (default): the project's own SQLite MLflow store, a local DVC remote, stack
  ``facetransfer-local``;
- team (``--team configs/team.yaml``, see ``facetransfer.project.team``): the team's MLflow
  server, the team bucket as ZenML artefact store and DVC remote, and a stack whose orchestrator
  is local, Kubernetes or Kubeflow. The services are checked before anything is changed.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.project.stack import STACK_NAME, answer_dashboard_survey, ensure_stack, executable
from facetransfer.project.team_stack import ensure_team_stack

if TYPE_CHECKING:
    from facetransfer.project.team import TeamSettings

logger = logging.getLogger(__name__)


@dataclass
class SetupReport:
    """What ``setup_project`` found or did, for the summary the CLI prints."""

    root: Path
    tracking_uri: str
    stack: str = STACK_NAME
    bucket: str | None = None
    data_action: str = ""
    data_md5: str | None = None
    dvc_remote: str = ""
    actions: list[str] = field(default_factory=list)


def setup_project(
    root: str | Path,
    *,
    dvc_remote: str | None = None,
    data_dir: str = "data",
    team: TeamSettings | None = None,
) -> SetupReport:
    """Prepare ``root`` (a checkout of the project) for pipeline runs.

    Args:
        root: the project folder (holds ``pyproject.toml``, ``zenml_config.yaml``, ``data.dvc``).
        dvc_remote: local mode: DVC remote URL to use as default (e.g. ``s3://bucket/facetransfer``);
            by default an existing default remote is kept, else a local folder outside the repo.
        data_dir: the DVC-tracked data folder.
        team: team mode: the services to use (``facetransfer.project.team.load_team_settings``).

    Raises:
        TeamSetupError: a team service does not answer, or the data cannot reach the team remote.
        StackSetupError: a ZenML stack cannot be registered or is invalid.
    """
    from facetransfer.demo.provision import ensure_data
    from facetransfer.project import team as team_services
    from facetransfer.tracking.store import SCORING_EXPERIMENT_NAME, ensure_experiment, resolve_tracking_uri

    quiet_third_party_telemetry()
    root = Path(root).resolve()
    if team is not None:
        _check_team_services(team)
    actions = _ensure_repositories(root)
    uri = team.mlflow.tracking_uri if team is not None else None
    if team_services.record_tracking_uri(root, uri):
        actions.append(f"recorded the MLflow server {uri}" if uri else "forgot the team MLflow server")
    if team is not None and team_services.configure_dvc_remote(root, team.s3):
        actions.append(
            f"DVC default remote {team_services.DVC_REMOTE_NAME} = {team.s3.url(team.s3.dvc_prefix)}"
        )
    report = SetupReport(root=root, tracking_uri=resolve_tracking_uri(root), actions=actions)
    status = ensure_data(root, data_dir=data_dir, remote_url=None if team else dvc_remote)
    report.data_action, report.data_md5, report.dvc_remote = status.action, status.md5, status.remote
    if team is not None:
        team_services.push_data(root, f"{data_dir}.dvc")
    ensure_experiment(report.tracking_uri, root)
    ensure_experiment(report.tracking_uri, root, SCORING_EXPERIMENT_NAME)
    if team is None:
        report.actions += ensure_stack(root, report.tracking_uri)
    else:
        report.stack, stack_actions = ensure_team_stack(root, team)
        prefixes = (team.s3.mlflow_prefix, team.s3.zenml_prefix, team.s3.dvc_prefix)
        report.bucket = f"s3://{team.s3.bucket} ({', '.join(f'{p}/' for p in prefixes)}: MLflow, ZenML, DVC)"
        report.actions += stack_actions
    if survey := answer_dashboard_survey(root):  # the dashboard opens on the runs, not a survey
        report.actions.append(survey)
    return report


def _check_team_services(team: TeamSettings) -> None:
    from facetransfer.project.team import check_bucket, check_mlflow_server, check_tracking_uri_agrees

    check_tracking_uri_agrees(team)
    check_mlflow_server(team.mlflow.tracking_uri)
    check_bucket(team.s3)


def _ensure_repositories(root: Path) -> list[str]:
    from dvc.repo import Repo

    actions = []
    if not (root / ".git").exists():
        _run(["git", "init", "--quiet"], root)
        actions.append("initialised a git repository (DVC needs one)")
    if not (root / ".dvc").is_dir():
        _run(["dvc", "init", "--quiet"], root)
        actions.append("initialised DVC")
    with Repo(str(root)) as repo:  # the Python API: a `dvc config` subprocess costs seconds
        if str(repo.config.load_one("repo").get("core", {}).get("analytics")).lower() != "false":
            with repo.config.edit("repo") as config:
                config["core"]["analytics"] = "false"  # as `dvc config` writes it
    return actions


def describe(report: SetupReport) -> str:
    """Human summary of a set-up: where data, runs and models live and how to look at them."""
    lines = [
        f"project:        {report.root}",
        f"data:           {report.data_action} (md5 {report.data_md5}) - DVC remote {report.dvc_remote}",
        f"MLflow store:   {report.tracking_uri}",
        f"ZenML stack:    {report.stack} (MLflow tracker + registry)",
        *([f"team bucket:    {report.bucket}"] if report.bucket else []),
        *(f"done:           {action}" for action in report.actions),
        "next:           zenml pipeline run pipelines.transfer_pipeline -c zenml_config.yaml",
        "then look:      facetransfer ui (MLflow); zenml login --local, then "
        "http://127.0.0.1:8237/projects/default/runs (ZenML)",
    ]
    return "\n".join(lines)


def _run(command: list[str], root: Path) -> None:
    program = executable(command[0])
    result = subprocess.run([program, *command[1:]], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(command)}` failed in {root}: {result.stderr.strip() or result.stdout.strip()}"
        )
