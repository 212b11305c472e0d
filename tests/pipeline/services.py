"""Real team services on 127.0.0.1 for end-to-end tests: an MLflow server and an S3-compatible server.

The MLflow server is started with exactly the flags and variables of ``docker/compose.yaml``'s
``mlflow`` service (``tests/unit/test_team_files.py`` checks that they agree), except that its
backend store is SQLite instead of PostgreSQL and its S3 is moto's server instead of MinIO.
Each service runs in its own process group, which ``stop`` ends (also when a test fails).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from facetransfer.environment import TELEMETRY_OFF

BIN = Path(sys.executable).parent
MLFLOW_SERVER_FLAGS = ("--workers", "1", "--serve-artifacts")
"""Flags of ``mlflow server`` besides host, port, allowed hosts and stores (compose uses the same)."""
MLFLOW_SERVER_ENVIRONMENT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""No job runner and its worker processes (STACK_NOTES): the server needs none of them."""
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "facetransfer-test",
    "AWS_SECRET_ACCESS_KEY": "facetransfer-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""moto accepts any credentials; they travel in the environment only, as a team's would."""
BUCKET = "facetransfer"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    """A server process started by a test, with its log."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, characters: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else ""

    def stop(self) -> None:
        """End the service's process group (the server and any worker it forked)."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_until(service: Service, ready: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited ({service.process.returncode}):\n{service.log_tail()}")
        try:
            with urllib.request.urlopen(ready, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    service.stop()
    raise RuntimeError(f"{service.name} did not answer {ready} within {timeout} s:\n{service.log_tail()}")


def start_s3_server(base: Path) -> Service:
    """moto's S3-compatible server on a free port of 127.0.0.1."""
    port = free_port()
    env = {**os.environ, **TELEMETRY_OFF, **S3_CREDENTIALS}
    log = base / "s3-server.log"
    command = [str(BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    service = Service("S3 server", f"http://127.0.0.1:{port}", _start(command, env, log), log)
    _wait_until(service, f"{service.url}/moto-api/", timeout=60)
    return service


def start_mlflow_server(base: Path, s3_endpoint: str) -> Service:
    """``mlflow server`` with a SQLite backend, its artefacts proxied to ``s3://<bucket>/mlflow``."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        **TELEMETRY_OFF,
        **S3_CREDENTIALS,
        **MLFLOW_SERVER_ENVIRONMENT,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
    }
    command = [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{base / 'mlflow-server.db'}",
        "--artifacts-destination",
        f"s3://{BUCKET}/mlflow",
        "--allowed-hosts",  # the Host header clients send; MLflow refuses others (DNS rebinding)
        f"127.0.0.1:{port}",
        *MLFLOW_SERVER_FLAGS,
    ]
    log = base / "mlflow-server.log"
    service = Service("MLflow server", f"http://127.0.0.1:{port}", _start(command, env, log), log)
    _wait_until(service, f"{service.url}/health", timeout=180)
    return service


def bucket_keys(endpoint: str, prefix: str = "") -> list[str]:
    """Every key under ``prefix`` in the test bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def create_bucket(endpoint: str) -> None:
    """The bucket a team creates once (compose's ``create-bucket`` service)."""
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **_boto_credentials()).create_bucket(Bucket=BUCKET)


def read_object(endpoint: str, key: str) -> bytes:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    return bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }
