"""The team stack's files agree with what the end-to-end test proves, and bad settings are clear errors.

``docker/compose.yaml`` cannot be started on the build machine (no Docker daemon); these tests tie
it to ``tests/pipeline/services.py``, whose MLflow server command the team-stack test runs for
real, and to ``configs/team.example.yaml``, which ``facetransfer setup --team`` reads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from facetransfer.project.team import (
    BucketSettings,
    OrchestratorSettings,
    TeamSettings,
    TeamSetupError,
    check_bucket,
    check_mlflow_server,
    configure_dvc_remote,
    load_team_settings,
    record_tracking_uri,
)
from facetransfer.tracking.store import default_tracking_uri, resolve_tracking_uri
from tests.pipeline.services import MLFLOW_SERVER_ENVIRONMENT, S3_CREDENTIALS, free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "configs" / "team.example.yaml"


def compose() -> dict:
    return yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())


def default_of(text: str, variable: str) -> str:
    """The default of ``${variable:-default}`` in ``text``."""
    match = re.search(r"\$\{" + variable + r":-([^}]*)\}", text)
    assert match, f"${{{variable}:-...}} not found in {text!r}"
    return match.group(1)


def test_the_example_team_file_is_valid_and_documents_every_key() -> None:
    settings = load_team_settings(EXAMPLE)
    text = EXAMPLE.read_text()
    for section, model in (
        ("mlflow", settings.mlflow),
        ("s3", settings.s3),
        ("orchestrator", settings.orchestrator),
    ):
        assert f"\n{section}:" in text
        for key in type(model).model_fields:
            assert re.search(rf"^  {key}:", text, re.MULTILINE), f"{section}.{key} is not documented"


def test_compose_runs_the_mlflow_server_the_test_runs() -> None:
    service = compose()["services"]["mlflow"]
    command = shlex.split(service["command"])
    assert command[:2] == ["mlflow", "server"]
    flags = " ".join(command)
    from tests.pipeline.services import MLFLOW_SERVER_FLAGS

    assert " ".join(MLFLOW_SERVER_FLAGS) in flags
    for option in ("--backend-store-uri", "--artifacts-destination", "--allowed-hosts", "--host", "--port"):
        assert option in command, option
    environment = service["environment"]
    for name, value in MLFLOW_SERVER_ENVIRONMENT.items():
        assert environment[name] == value
    assert set(S3_CREDENTIALS) <= set(environment), "the server gets the same credential variables"
    assert environment["MLFLOW_S3_ENDPOINT_URL"].startswith("http://minio:")


def test_compose_and_the_example_name_the_same_bucket_prefixes_and_ports() -> None:
    services = compose()["services"]
    example = load_team_settings(EXAMPLE)
    destination = shlex.split(services["mlflow"]["command"])
    destination = destination[destination.index("--artifacts-destination") + 1]
    assert destination == f"s3://${{S3_BUCKET:-{example.s3.bucket}}}/{example.s3.mlflow_prefix}"
    assert default_of(services["create-bucket"]["environment"]["S3_BUCKET"], "S3_BUCKET") == example.s3.bucket
    assert example.mlflow.tracking_uri.endswith(":" + services["mlflow"]["ports"][0].split(":")[0])
    assert example.s3.endpoint_url and example.s3.endpoint_url.endswith(
        ":" + services["minio"]["ports"][0].split(":")[0]
    )


def test_compose_holds_no_credentials() -> None:
    text = (REPO / "docker" / "compose.yaml").read_text()
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "POSTGRES_PASSWORD"):
        assert re.search(r"\$\{" + variable + r":-", text) is None, f"{variable} has a default value"


def commented_block(key: str) -> dict:
    """The commented-out top-level block ``key`` of zenml_config.yaml, uncommented and parsed."""
    lines = [
        line[2:] for line in (REPO / "zenml_config.yaml").read_text().splitlines() if line.startswith("# ")
    ]
    start = lines.index(f"{key}:")
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line)
    return yaml.safe_load("\n".join(block))[key]


def test_the_commented_docker_and_schedule_blocks_are_valid_zenml_settings() -> None:
    from croniter import croniter
    from zenml.config import DockerSettings, Schedule

    docker = DockerSettings.model_validate(commented_block("settings")["docker"])
    assert docker.dockerfile == "docker/Dockerfile" and (REPO / docker.dockerfile).is_file()
    assert (REPO / (docker.build_context_root or "") / "pyproject.toml").is_file()
    assert docker.install_stack_requirements is False, "the image keeps the pinned versions"
    schedule = Schedule.model_validate(commented_block("schedule"))
    assert schedule.cron_expression and croniter.is_valid(schedule.cron_expression)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"s3": {"bucket": "b"}}, "mlflow: Field required"),
        ({"mlflow": {"tracking_uri": "sqlite:///x.db"}, "s3": {"bucket": "b"}}, "http:// or https://"),
        ({"mlflow": {"tracking_uri": "http://m"}, "s3": {"bucket": "s3://b/x"}}, "bare bucket name"),
        ({"mlflow": {"tracking_uri": "http://m"}, "s3": {"bucket": "b", "bukket": 1}}, "s3.bukket"),
        (
            {
                "mlflow": {"tracking_uri": "http://m"},
                "s3": {"bucket": "b"},
                "orchestrator": {"flavor": "kubernetes"},
            },
            "container_registry",
        ),
    ],
)
def test_bad_team_files_name_the_file_and_the_key(tmp_path: Path, document: dict, message: str) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(TeamSetupError, match=re.escape(message)) as raised:
        load_team_settings(path)
    assert str(path) in str(raised.value)


def test_cli_options_override_the_orchestrator_and_are_validated() -> None:
    settings = TeamSettings.model_validate({"mlflow": {"tracking_uri": "http://m"}, "s3": {"bucket": "b"}})
    cluster = settings.with_orchestrator(
        flavor="kubernetes", kubernetes_context="c", container_registry="r/x"
    )
    assert cluster.orchestrator == OrchestratorSettings(
        flavor="kubernetes", kubernetes_context="c", container_registry="r/x"
    )
    with pytest.raises(TeamSetupError, match="kubernetes_context"):
        settings.with_orchestrator(flavor="kubernetes", container_registry="r/x")


def test_unreachable_services_and_missing_credentials_are_errors_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(TeamSetupError, match=f"MLflow server http://127.0.0.1:{port} does not answer"):
        check_mlflow_server(f"http://127.0.0.1:{port}", timeout=2)
    bucket = BucketSettings(
        bucket="facetransfer", endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(
        TeamSetupError, match=r"no S3 credentials for bucket facetransfer .* AWS_ACCESS_KEY_ID"
    ):
        check_bucket(bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with pytest.raises(
        TeamSetupError, match=f"bucket facetransfer at http://127.0.0.1:{port} does not answer"
    ):
        check_bucket(bucket)


def test_the_recorded_server_is_used_unless_the_environment_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert record_tracking_uri(tmp_path, "http://mlflow.team:5000")
    assert not record_tracking_uri(tmp_path, "http://mlflow.team:5000"), "unchanged: nothing to do"
    assert resolve_tracking_uri(tmp_path) == "http://mlflow.team:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://other:5000")
    assert resolve_tracking_uri(tmp_path) == "http://other:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert record_tracking_uri(tmp_path, None)
    assert resolve_tracking_uri(tmp_path) == default_tracking_uri(tmp_path)


def test_the_dvc_remote_is_configured_locally_and_once(tmp_path: Path) -> None:
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True)
    bucket = BucketSettings(bucket="facetransfer", endpoint_url="http://s3.team:9000")
    assert configure_dvc_remote(tmp_path, bucket)
    assert not configure_dvc_remote(tmp_path, bucket)
    local = (tmp_path / ".dvc" / "config.local").read_text()
    assert "url = s3://facetransfer/dvc" in local and "endpointurl = http://s3.team:9000" in local
    assert "facetransfer-team" not in (tmp_path / ".dvc" / "config").read_text(), (
        "nothing machine-local in git"
    )
    assert configure_dvc_remote(tmp_path, bucket.model_copy(update={"endpoint_url": None}))
    assert "endpointurl" not in (tmp_path / ".dvc" / "config.local").read_text()


def test_setup_command_refuses_cluster_options_without_team_services(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from facetransfer.cli import main

    runner = CliRunner()
    cluster = runner.invoke(main, ["setup", "--root", str(tmp_path), "--stack", "kubernetes"])
    assert cluster.exit_code == 2 and "need --team FILE" in cluster.output
    missing = runner.invoke(main, ["setup", "--root", str(tmp_path), "--team", str(tmp_path / "team.yaml")])
    assert missing.exit_code == 1 and f"{tmp_path / 'team.yaml'} not found" in missing.output
    assert not (tmp_path / ".dvc").exists(), "nothing was set up"
