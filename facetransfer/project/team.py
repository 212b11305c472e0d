"""The team stack's settings (``configs/team.yaml``) and the services they name.

A team shares one MLflow server (runs, registry; it stores its artefacts in S3 itself) and one
S3-compatible bucket used three ways: ``s3://<bucket>/mlflow`` (the server's
``--artifacts-destination``), ``s3://<bucket>/zenml`` (ZenML's ``s3`` artefact store) and
``s3://<bucket>/dvc`` (the DVC remote). The settings file names services, never credentials:
those come from the environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or any source of
boto3's default chain; ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or
``MLFLOW_TRACKING_TOKEN``) and set-up copies what ZenML needs into ZenML secrets.

Before anything is registered, set-up checks that the server and the bucket answer, so an
outage or a typo is an error naming the URL, never a stack that fails on its first run.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from facetransfer.tracking.store import RECORDED_URI_FILE

logger = logging.getLogger(__name__)

DVC_REMOTE_NAME = "facetransfer-team"
SERVICE_TIMEOUT_S = 10.0
"""How long set-up waits for the MLflow server or the bucket to answer before calling it down."""


class TeamSetupError(RuntimeError):
    """The team settings are invalid or a team service does not answer (the message says which)."""


class MlflowServerSettings(BaseModel):
    """The team's MLflow tracking server (backend store + model registry)."""

    model_config = ConfigDict(extra="forbid")

    tracking_uri: str = Field(description="http(s) URL of the MLflow server")
    credentials_secret: str = Field(
        "facetransfer-mlflow", description="ZenML secret holding the tracker's credentials"
    )

    @field_validator("tracking_uri")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL of an MLflow server, got {value!r}")
        return value.rstrip("/")


class BucketSettings(BaseModel):
    """The S3-compatible bucket and the prefixes of its three users."""

    model_config = ConfigDict(extra="forbid")

    bucket: str
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint; None: AWS S3")
    region: str | None = None
    zenml_prefix: str = "zenml"
    dvc_prefix: str = "dvc"
    mlflow_prefix: str = Field("mlflow", description="the MLflow server's --artifacts-destination prefix")
    credentials_secret: str | None = Field(
        None, description="ZenML secret for the artefact store; None: the environment of each process"
    )

    @field_validator("bucket")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        if not value or "/" in value or value.startswith("s3:"):
            raise ValueError(f"must be a bare bucket name (no s3:// and no path), got {value!r}")
        return value

    def url(self, prefix: str) -> str:
        """``s3://<bucket>/<prefix>``."""
        return f"s3://{self.bucket}/{prefix.strip('/')}"


class OrchestratorSettings(BaseModel):
    """Where pipelines run: this machine, or a Kubernetes / Kubeflow cluster."""

    model_config = ConfigDict(extra="forbid")

    flavor: Literal["local", "kubernetes", "kubeflow"] = "local"
    kubernetes_context: str | None = None
    namespace: str = "facetransfer"
    container_registry: str | None = None
    image_builder: Literal["local", "kaniko"] = "local"
    kubeflow_hostname: str | None = None
    kubeflow_namespace: str = "kubeflow"

    @model_validator(mode="after")
    def _cluster_needs(self) -> OrchestratorSettings:
        if self.flavor == "local":
            return self
        if not self.container_registry:
            raise ValueError(f"a {self.flavor} stack needs container_registry (where images are pushed)")
        if self.flavor == "kubernetes" and not self.kubernetes_context:
            raise ValueError("a kubernetes stack needs kubernetes_context (a context of your kubeconfig)")
        if self.flavor == "kubeflow" and not (self.kubernetes_context or self.kubeflow_hostname):
            raise ValueError("a kubeflow stack needs kubernetes_context or kubeflow_hostname")
        if self.image_builder == "kaniko" and not self.kubernetes_context:
            raise ValueError("the kaniko image builder needs kubernetes_context")
        return self


class TeamSettings(BaseModel):
    """Everything ``facetransfer setup --team FILE`` reads from ``FILE``."""

    model_config = ConfigDict(extra="forbid")

    mlflow: MlflowServerSettings
    s3: BucketSettings
    orchestrator: OrchestratorSettings = OrchestratorSettings()

    def with_orchestrator(self, **overrides: Any) -> TeamSettings:
        """A copy whose orchestrator settings take the non-``None`` ``overrides`` (CLI options)."""
        merged = self.orchestrator.model_dump() | {k: v for k, v in overrides.items() if v is not None}
        try:
            return self.model_copy(update={"orchestrator": OrchestratorSettings(**merged)})
        except ValidationError as error:
            raise TeamSetupError(f"orchestrator settings: {_errors(error)}") from None


def load_team_settings(path: str | Path) -> TeamSettings:
    """Read and validate a team settings file.

    Raises:
        TeamSetupError: the file is missing, not YAML, or a key is missing or wrong (named).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise TeamSetupError(f"team settings file {path} not found (start from configs/team.example.yaml)")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TeamSetupError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise TeamSetupError(f"{path}: expected a mapping with keys mlflow, s3, orchestrator")
    try:
        return TeamSettings.model_validate(document)
    except ValidationError as error:
        raise TeamSetupError(f"{path}: {_errors(error)}") from None


def _errors(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors())


def check_tracking_uri_agrees(settings: TeamSettings) -> None:
    """``MLFLOW_TRACKING_URI`` overrides the recorded server; a different value is a contradiction."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured and configured.rstrip("/") != settings.mlflow.tracking_uri:
        raise TeamSetupError(
            f"MLFLOW_TRACKING_URI={configured} in the environment would override the team server "
            f"{settings.mlflow.tracking_uri}; unset it or make the two agree"
        )


def check_mlflow_server(uri: str, timeout: float = SERVICE_TIMEOUT_S) -> None:
    """Raise ``TeamSetupError`` unless the MLflow server at ``uri`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=timeout) as response:
            body = response.read(64).decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TeamSetupError(f"MLflow server {uri} does not answer ({reason}); is it running?") from None
    if body != "OK":
        raise TeamSetupError(f"{uri}/health answered {body!r}, not 'OK': is this an MLflow server?")


def s3_client(settings: BucketSettings) -> Any:
    """A boto3 S3 client for the team bucket with short timeouts (credentials: boto3's default chain)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise TeamSetupError("S3 support is not installed: pip install -e '.[s3]'") from None
    config = Config(
        connect_timeout=SERVICE_TIMEOUT_S, read_timeout=SERVICE_TIMEOUT_S, retries={"max_attempts": 2}
    )
    return boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config)


def check_bucket(settings: BucketSettings) -> None:
    """Raise ``TeamSetupError`` unless the bucket exists and these credentials may use it."""
    client = s3_client(settings)
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = f"bucket {settings.bucket} at {settings.endpoint_url or 'AWS S3'}"
    try:
        client.head_bucket(Bucket=settings.bucket)
    except NoCredentialsError:
        raise TeamSetupError(
            f"no S3 credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE) in the environment"
        ) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            raise TeamSetupError(f"{where} does not exist; create it first") from None
        raise TeamSetupError(f"{where} refused access ({code}): check the credentials") from None
    except BotoCoreError as error:
        raise TeamSetupError(f"{where} does not answer ({error})") from None


def record_tracking_uri(root: Path, uri: str | None) -> bool:
    """Record (``None``: forget) the team server of this checkout; return whether anything changed."""
    path = root / RECORDED_URI_FILE
    current = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    if current == uri:
        return False
    if uri is None:
        path.unlink()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(uri + "\n", encoding="utf-8")
    return True


def configure_dvc_remote(root: Path, settings: BucketSettings) -> bool:
    """Make ``s3://<bucket>/<dvc_prefix>`` DVC's default remote (local config: no machine state in git).

    Returns:
        Whether the configuration changed.
    """
    from dvc.repo import Repo

    wanted = {"url": settings.url(settings.dvc_prefix)}
    if settings.endpoint_url:
        wanted["endpointurl"] = settings.endpoint_url
    if settings.region:
        wanted["region"] = settings.region
    with Repo(str(root)) as repo:
        local = repo.config.load_one("local")  # as written, without the defaults DVC fills in
        current = dict(local.get("remote", {}).get(DVC_REMOTE_NAME, {}))
        if current == wanted and repo.config["core"].get("remote") == DVC_REMOTE_NAME:
            return False
        with repo.config.edit("local") as config:
            config["remote"][DVC_REMOTE_NAME] = wanted
            config["core"]["remote"] = DVC_REMOTE_NAME
    return True


def push_data(root: Path, dvc_file: str = "data.dvc") -> None:
    """``dvc push`` the data to the team remote; a failure is an error (the team must get the data)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            repo.push(targets=[str(root / dvc_file)])
    except DvcException as error:
        raise TeamSetupError(f"dvc push of {dvc_file} to the team remote failed: {error}") from None
