"""An unreachable model registry is an error naming it, never "no model".

A real MLflow client talks to ``http://127.0.0.1:<port>`` where nothing listens: the outage is
real, only the server is absent.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from facetransfer.cli import main
from facetransfer.config import PromotionSettings
from facetransfer.environment import MLFLOW_HTTP_DEFAULTS, bound_mlflow_retries
from facetransfer.registry.client import CHAMPION, RegistryUnavailableError, alias_version
from facetransfer.workflow.champion import evaluate_champion
from facetransfer.workflow.registration import register_and_promote

REPO = Path(__file__).resolve().parents[2]


def closed_port_uri() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch):
    """The active tracking URI is a closed port; no retries (how long retries take is tested apart)."""
    uri = closed_port_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri("")


def test_missing_alias_is_none_but_an_unreachable_registry_raises_naming_it(
    mlflow_client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert alias_version(mlflow_client, "deepfake-detector", CHAMPION) is None  # no such model
    mlflow_client.create_registered_model("deepfake-detector")
    assert alias_version(mlflow_client, "deepfake-detector", CHAMPION) is None  # no such alias
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = closed_port_uri()
    with pytest.raises(RegistryUnavailableError, match="unreachable") as raised:
        alias_version(MlflowClient(tracking_uri=uri), "deepfake-detector", CHAMPION)
    assert raised.value.uri == uri and uri in str(raised.value)


def test_status_exits_non_zero_naming_the_registry_within_the_default_retry_bounds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in MLFLOW_HTTP_DEFAULTS:  # the CLI's own bounds apply, not a test setting
        monkeypatch.delenv(name, raising=False)
    uri = closed_port_uri()
    started = time.monotonic()
    result = CliRunner().invoke(main, ["status", "--root", str(tmp_path)], env={"MLFLOW_TRACKING_URI": uri})
    seconds = time.monotonic() - started
    assert result.exit_code != 0
    assert f"model registry at {uri} is unreachable" in result.output
    assert "champion: none" not in result.output
    assert (
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
        == MLFLOW_HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    )
    # MLflow's own defaults retry for ~4 minutes per request; the project's give up in seconds.
    assert seconds < 60, f"status took {seconds:.0f} s to report the outage"


def test_retry_bounds_are_defaults_a_user_setting_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    bound_mlflow_retries()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"
    assert (
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
        == MLFLOW_HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    )


def test_predict_says_the_registry_is_unreachable_not_that_nothing_was_trained(
    unreachable: str, tmp_path: Path
) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"never read: the registry is asked first")
    result = CliRunner().invoke(main, ["predict", str(image), "--root", str(tmp_path)])
    assert result.exit_code != 0
    assert f"model registry at {unreachable} is unreachable" in result.output
    assert "run the pipeline first" not in result.output


def test_retrain_exits_non_zero_without_ingesting_or_running_the_pipeline(
    unreachable: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text(encoding="utf-8"))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    caplog.set_level("INFO")
    result = CliRunner().invoke(main, ["retrain", "--root", str(tmp_path), "--config", "tiny.yaml"])
    assert result.exit_code == 1, result.output
    assert f"retrain not started: model registry at {unreachable} is unreachable" in result.output
    assert "running:" not in caplog.text and "no deepfake-detector@champion" not in caplog.text
    assert not (tmp_path / ".local" / "cache").exists(), "nothing was ingested"


def test_promotion_raises_before_registering_or_moving_an_alias(unreachable: str) -> None:
    manifest = pd.DataFrame({"path": ["a.png"], "label": [1], "generator": ["gan"], "split": ["test"]})
    with pytest.raises(RegistryUnavailableError, match="unreachable"):
        evaluate_champion(manifest, model_name="deepfake-detector", batch_size=8)
    # An empty comparison proves the order: the registry is read before anything else is looked at.
    with pytest.raises(RegistryUnavailableError, match=unreachable):
        register_and_promote({}, {"exists": False}, settings=PromotionSettings(), provenance={})
