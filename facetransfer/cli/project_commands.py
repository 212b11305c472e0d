"""CLI commands for operating the product: setup, status, retrain, schedule, predict, ui."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from facetransfer.cli.command_options import ROOT_OPTION
from facetransfer.registry.client import CHAMPION, DETECTOR_MODEL

logger = logging.getLogger(__name__)

CONFIG_OPTION = click.option(
    "--config", default="zenml_config.yaml", show_default=True, help="Run configuration, relative to --root."
)


@click.command("setup")
@ROOT_OPTION
@click.option("--dvc-remote", default=None, help="DVC remote URL to use as default (default: keep or local).")
@click.option(
    "--team",
    "team_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Team settings (see configs/team.example.yaml): MLflow server, S3 bucket, orchestrator.",
)
@click.option(
    "--stack",
    "orchestrator",
    type=click.Choice(["local", "kubernetes", "kubeflow"]),
    default=None,
    help="Orchestrator of the team stack (default: the team file's orchestrator.flavor).",
)
@click.option("--kube-context", default=None, help="kubeconfig context of the cluster.")
@click.option("--namespace", default=None, help="Kubernetes namespace the pipeline pods run in.")
@click.option("--registry-uri", default=None, help="Container registry the images are pushed to.")
@click.option(
    "--image-builder", type=click.Choice(["local", "kaniko"]), default=None, help="Who builds images."
)
@click.option("--kubeflow-host", default=None, help="Kubeflow Pipelines API host (multi-tenant deployments).")
def setup_command(
    root: Path,
    dvc_remote: str | None,
    team_file: Path | None,
    orchestrator: str | None,
    kube_context: str | None,
    namespace: str | None,
    registry_uri: str | None,
    image_builder: str | None,
    kubeflow_host: str | None,
) -> None:
    """Prepare the project: DVC + data, MLflow store, ZenML repository and stack (idempotent)."""
    from facetransfer.project.setup import describe, setup_project
    from facetransfer.project.stack import StackSetupError
    from facetransfer.project.team import TeamSetupError, load_team_settings

    for chatty in ("botocore", "aiobotocore", "s3fs"):  # "Found credentials in environment variables"
        logging.getLogger(chatty).setLevel(logging.WARNING)
    cluster_options = {
        "flavor": orchestrator,
        "kubernetes_context": kube_context,
        "namespace": namespace,
        "container_registry": registry_uri,
        "image_builder": image_builder,
        "kubeflow_hostname": kubeflow_host,
    }
    try:
        if team_file is None:
            if any(value is not None and value != "local" for value in cluster_options.values()):
                raise click.UsageError(
                    "--stack and the cluster options need --team FILE (the shared services)"
                )
            report = setup_project(root, dvc_remote=dvc_remote)
        else:
            if dvc_remote is not None:
                raise click.UsageError("with --team the DVC remote is the team bucket (s3.dvc_prefix)")
            team = load_team_settings(team_file).with_orchestrator(**cluster_options)
            report = setup_project(root, team=team)
    except (TeamSetupError, StackSetupError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(describe(report))


@click.command("status")
@ROOT_OPTION
@click.option("--model", "model_name", default=DETECTOR_MODEL, show_default=True)
def status_command(root: Path, model_name: str) -> None:
    """Show the champion and challenger detectors and where to look at runs.

    Exits non-zero, naming the registry URI, when the registry cannot be reached.
    """
    from mlflow.tracking import MlflowClient

    from facetransfer.registry.client import (
        CHALLENGER,
        RegistryUnavailableError,
        alias_version,
        json_tag,
    )
    from facetransfer.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(root.resolve())
    client = MlflowClient(tracking_uri=uri)
    for alias in (CHAMPION, CHALLENGER):
        try:
            version = alias_version(client, model_name, alias)
        except RegistryUnavailableError as error:
            raise click.ClickException(str(error)) from error
        if version is None:
            click.echo(f"{model_name}@{alias}: none")
            continue
        metrics = json_tag(version, "test_metrics", {})
        click.echo(
            f"{model_name}@{alias}: version {version.version} ({version.tags.get('backbone')}, "
            f"transfer '{version.tags.get('variant')}'), test "
            + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            + f"; {version.tags.get('promotion.reason', '')}"
        )
    click.echo(f"MLflow UI:       facetransfer ui   (mlflow ui --backend-store-uri {uri} --workers 1)")
    click.echo("ZenML dashboard: zenml login --local   (then http://127.0.0.1:8237)")


@click.command("retrain")
@ROOT_OPTION
@CONFIG_OPTION
@click.option("--force", is_flag=True, help="Run even if the data did not change.")
def retrain_command(root: Path, config: str, force: bool) -> None:
    """Run the pipeline if the data changed since the champion was trained (scheduled command).

    Exits non-zero without running anything when the model registry cannot be reached.
    """
    from facetransfer.project.retrain import retrain
    from facetransfer.registry.client import RegistryUnavailableError

    try:
        code = retrain(root, config, force=force)
    except RegistryUnavailableError as error:
        raise click.ClickException(f"retrain not started: {error}") from error
    sys.exit(code)


@click.command("schedule")
@ROOT_OPTION
@CONFIG_OPTION
@click.option("--cron", default=None, help="5-field cron expression, e.g. '0 3 * * *'.")
@click.option("--remove", is_flag=True, help="Remove this project's schedule.")
@click.option(
    "--backend", type=click.Choice(["auto", "crontab", "systemd"]), default="auto", show_default=True
)
@click.option(
    "--crontab-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the entry into this crontab file instead of the user's crontab.",
)
@click.option(
    "--unit-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="systemd: unit folder (default ~/.config/systemd/user); given, units are not activated.",
)
def schedule_command(
    root: Path,
    config: str,
    cron: str | None,
    remove: bool,
    backend: str,
    crontab_file: Path | None,
    unit_dir: Path | None,
) -> None:
    """Install (or --remove) a system schedule that runs `facetransfer retrain`."""
    import shutil

    from facetransfer.project import schedule

    if remove == (cron is not None):
        raise click.UsageError("give either --cron EXPRESSION or --remove")
    root = root.resolve()
    command = schedule.ScheduledCommand(
        root=root, config=config, log_file=root / ".local" / "logs" / "retrain.log"
    )
    if backend == "auto":
        backend = (
            "systemd"
            if unit_dir is not None or (crontab_file is None and not shutil.which("crontab"))
            else "crontab"
        )
    try:
        if backend == "crontab":
            if remove:
                found = schedule.remove_crontab(command, crontab_file)
                click.echo("removed the crontab entry" if found else "no crontab entry of this project")
            else:
                click.echo(
                    "installed crontab entry:\n" + schedule.install_crontab(cron or "", command, crontab_file)
                )
            return
        directory = (
            unit_dir or Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "systemd" / "user"
        )
        if remove:
            found = schedule.remove_systemd_timer(command, directory, activate=unit_dir is None)
            click.echo("removed the systemd timer" if found else "no systemd timer of this project")
        else:
            timer = schedule.install_systemd_timer(cron or "", command, directory, activate=unit_dir is None)
            click.echo(f"installed {timer} running:\n{command.shell_command()}")
    except schedule.ScheduleError as error:
        raise click.ClickException(str(error)) from error


@click.command("ui")
@ROOT_OPTION
@click.option("--port", default=5000, show_default=True)
def ui_command(root: Path, port: int) -> None:
    """Serve the MLflow UI on the project's store (one worker, no job runner)."""
    from facetransfer.project.stack import executable
    from facetransfer.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(root.resolve())
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    mlflow = executable("mlflow")
    # MLflow 3.17's UI picks GenAI or model-training pages from this parameter (or the user's last
    # choice), not from the experiment's kind tag; the UI keeps it while one navigates.
    click.echo(f"MLflow UI on http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning for {uri}")
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--workers", "1", "--port", str(port)])


def project_commands() -> list[click.Command]:
    """Commands this module contributes to the ``facetransfer`` CLI."""
    return [
        setup_command,
        status_command,
        retrain_command,
        schedule_command,
        ui_command,
    ]
