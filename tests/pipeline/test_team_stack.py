"""End to end: the team stack, with a real MLflow server and a real S3-compatible server on 127.0.0.1.

``facetransfer setup --team`` points a temporary project at the two servers; the tiny pipeline
then runs on the team stack (local orchestrator, ZenML ``s3`` artefact store, MLflow tracker and
registry on the server). The test reads back what landed where: runs and registered versions
from the MLflow server, and the bucket's keys for MLflow's artefacts (written by the server),
ZenML's artefacts and the DVC-pushed data. ``status`` and ``predict`` then work from the
recorded server alone, ``predict`` even without S3 credentials (the server proxies artefacts).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.pipeline.project import BIN, TINY_DEMO, Project
from tests.pipeline.services import (
    BUCKET,
    S3_CREDENTIALS,
    Service,
    bucket_keys,
    create_bucket,
    read_object,
    start_mlflow_server,
    start_s3_server,
)

pytestmark = pytest.mark.slow

BACKBONE = "mobilenet_v3_large"
ZENML_ARTIFACT_URIS = """
import json
from zenml.client import Client
run = Client().get_pipeline("transfer_pipeline").last_run
print(json.dumps(sorted({a.uri for s in run.steps.values() for outs in s.outputs.values() for a in outs})))
"""


@dataclass
class TeamProject:
    project: Project
    s3: Service
    mlflow: Service
    setup_seconds: tuple[float, float]
    setup_outputs: tuple[str, str]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamProject]:
    base = tmp_path_factory.mktemp("team")
    services: list[Service] = []
    try:
        s3 = start_s3_server(base)
        services.append(s3)
        create_bucket(s3.url)
        mlflow = start_mlflow_server(base, s3.url)
        services.append(mlflow)
        project = Project.create(base, extra_env=dict(S3_CREDENTIALS))
        project.server_uri = mlflow.url
        write_team_file(project.root / "team.yaml", mlflow.url, s3.url)
        project.facetransfer("demo-data", "--out", "data", *TINY_DEMO)
        seconds, outputs = [], []
        for _ in range(2):  # the second run must change nothing
            started = time.monotonic()
            outputs.append(project.facetransfer("setup", "--team", "team.yaml").stdout)
            seconds.append(time.monotonic() - started)
        project.pipeline("configs/tiny.yaml")
        yield TeamProject(project, s3, mlflow, (seconds[0], seconds[1]), (outputs[0], outputs[1]))
    finally:
        for service in reversed(services):
            service.stop()


def write_team_file(path: Path, tracking_uri: str, endpoint: str, bucket: str = BUCKET) -> None:
    settings = {
        "mlflow": {"tracking_uri": tracking_uri},
        "s3": {"bucket": bucket, "endpoint_url": endpoint, "region": "us-east-1"},
    }
    path.write_text(yaml.safe_dump(settings))


def test_setup_points_the_project_at_the_team_services_once(team: TeamProject) -> None:
    first, second = team.setup_outputs
    print(f"setup --team: cold {team.setup_seconds[0]:.1f} s, second run {team.setup_seconds[1]:.1f} s")
    assert "ZenML stack:    facetransfer-team" in first
    assert f"MLflow store:   {team.mlflow.url}" in first
    assert f"DVC remote s3://{BUCKET}/dvc" in first
    for line in ("registered artifact_store facetransfer-s3", "registered stack facetransfer-team"):
        assert line in first
    assert not any(word in second for word in ("registered", "stored", "updated", "activated")), second
    local_config = (team.project.root / ".dvc" / "config.local").read_text()
    assert f"endpointurl = {team.s3.url}" in local_config


def test_no_credential_is_written_into_the_project(team: TeamProject) -> None:
    secret = S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    root = team.project.root
    skipped = (root / "data", root / ".dvc" / "cache", root / ".git", root / ".local")
    for path in root.rglob("*"):
        if path.is_file() and not any(path.is_relative_to(folder) for folder in skipped):
            assert secret not in path.read_text(errors="replace"), path


def test_runs_and_registered_versions_are_on_the_mlflow_server(team: TeamProject) -> None:
    client = team.project.mlflow()
    experiment = client.get_experiment_by_name("transfer_pipeline")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    expected = {f"segmenter-{BACKBONE}", *(f"detector-{BACKBONE}-{v}" for v in ("none", "last", "all"))}
    assert expected <= set(runs)
    champion = client.get_model_version_by_alias("deepfake-detector", "champion")
    assert champion.tags["promotion.decision"] == "promoted"
    segmenter = client.get_model_version_by_alias("face-segmenter", "champion")
    assert str(segmenter.version) == champion.tags["segmenter_version"]

    # The server wrote every model and plot of the runs into s3://<bucket>/mlflow/...
    detector = runs[f"detector-{BACKBONE}-last"]
    assert detector.info.artifact_uri.startswith("mlflow-artifacts:/")
    keys = bucket_keys(team.s3.url, "mlflow/")
    plots = f"mlflow/{experiment.experiment_id}/{detector.info.run_id}/artifacts/plots/"
    assert {f"{plots}confusion_matrix.png", f"{plots}roc_curves.png"} <= set(keys)
    logged_model = client.get_logged_model(champion.source.removeprefix("models:/"))
    model_prefix = logged_model.artifact_location.replace("mlflow-artifacts:/", "mlflow/", 1)
    assert any(key.startswith(f"{model_prefix}/") for key in keys), f"nothing under {model_prefix}"


def test_zenml_artifacts_are_in_the_bucket(team: TeamProject) -> None:
    result = team.project.run(str(BIN / "python"), "-c", ZENML_ARTIFACT_URIS)
    uris = json.loads(result.stdout.strip().splitlines()[-1])
    assert uris and all(uri.startswith(f"s3://{BUCKET}/zenml/") for uri in uris), uris
    keys = bucket_keys(team.s3.url, "zenml/")
    for uri in uris:
        prefix = uri.removeprefix(f"s3://{BUCKET}/")
        assert any(key.startswith(prefix) for key in keys), f"nothing stored under {uri}"


def test_the_dvc_tracked_data_is_in_the_bucket(team: TeamProject) -> None:
    pointer = yaml.safe_load((team.project.root / "data.dvc").read_text())
    md5 = pointer["outs"][0]["md5"]  # "<hash>.dir": the listing of every file of data/
    listing = json.loads(read_object(team.s3.url, f"dvc/files/md5/{md5[:2]}/{md5[2:]}"))
    keys = set(bucket_keys(team.s3.url, "dvc/"))
    assert len(listing) == pointer["outs"][0]["nfiles"]
    missing = [e["relpath"] for e in listing if f"dvc/files/md5/{e['md5'][:2]}/{e['md5'][2:]}" not in keys]
    assert not missing, f"{len(missing)} files not pushed, e.g. {missing[:3]}"


def test_status_and_predict_use_the_recorded_server(team: TeamProject) -> None:
    champion = team.project.mlflow().get_model_version_by_alias("deepfake-detector", "champion")
    status = team.project.facetransfer("status").stdout
    assert f"deepfake-detector@champion: version {champion.version}" in status

    # No S3 credentials on the client: the MLflow server proxies the model's artefacts.
    without_credentials = {k: v for k, v in team.project.env.items() if not k.startswith("AWS_")}
    scored = Project(team.project.root, without_credentials).facetransfer("predict", "data/detection/ffhq")
    frame = pd.read_csv(io.StringIO(scored.stdout))
    assert list(frame.columns[:1]) == ["path"]
    assert {"fake_probability", "prediction", "threshold", "model_version", "error"} <= set(frame.columns)
    assert frame["input_index"].nunique() == 32 and frame["error"].isna().all()
    assert set(frame["model_version"]) == {f"deepfake-detector/{champion.version}"}


def test_a_missing_bucket_is_a_clear_error(team: TeamProject, tmp_path: Path) -> None:
    write_team_file(tmp_path / "team.yaml", team.mlflow.url, team.s3.url, bucket="no-such-bucket")
    result = team.project.facetransfer("setup", "--team", str(tmp_path / "team.yaml"), check=False)
    assert result.returncode != 0
    assert f"bucket no-such-bucket at {team.s3.url} does not exist" in result.stderr
    assert "Traceback" not in result.stderr
