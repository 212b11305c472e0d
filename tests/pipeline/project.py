"""A throwaway copy of the project with its own ZenML store, MLflow store and DVC remote.

End-to-end tests drive it exactly as a user would: ``facetransfer`` and ``zenml`` commands in
subprocesses, nothing mocked. Everything lives under pytest's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from facetransfer.environment import TELEMETRY_OFF

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("pipelines", "steps", "configs", "zenml_config.yaml")
BIN = Path(sys.executable).parent

STEP_STATUSES = """
import json
from zenml.client import Client
run = Client().get_pipeline("transfer_pipeline").last_run
print(json.dumps({"run": str(run.status), "steps": {s.name: str(s.status) for s in run.steps.values()},
                  "started": {s.name: s.start_time.isoformat() for s in run.steps.values() if s.start_time}}))
"""


@dataclass
class Project:
    """A project checkout in ``root`` with an isolated environment ``env``."""

    root: Path
    env: dict[str, str]
    server_uri: str | None = None
    """The MLflow server the project uses; ``None``: its local SQLite store."""
    first_run: dict | None = None
    """``last_run()`` right after the project's first pipeline run (set by the shared fixture)."""

    @classmethod
    def create(cls, base: Path, extra_env: dict[str, str] | None = None) -> Project:
        root = base / "project"
        root.mkdir()
        for name in PROJECT_FILES:
            source = REPO / name
            copy = shutil.copytree if source.is_dir() else shutil.copy2
            copy(source, root / name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ZENML_"))}
        env.update(TELEMETRY_OFF)
        env.update(
            {
                "ZENML_CONFIG_PATH": str(base / "zenml-config"),
                "FACETRANSFER_DVC_REMOTE": str(base / "dvc-remote"),
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra_env or {})
        project = cls(root, env)
        project.run("git", "init", "--quiet")
        return project

    def run(
        self, *command: str, check: bool = True, timeout: float = 1200
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the project; on failure the assertion shows its output."""
        result = subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check:
            assert result.returncode == 0, (
                f"{' '.join(command)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
            )
        return result

    def facetransfer(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "facetransfer"), *args, check=check)

    def pipeline(self, config: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(
            str(BIN / "zenml"), "pipeline", "run", "pipelines.transfer_pipeline", "-c", config, check=check
        )

    def last_run(self) -> dict:
        """Status of the latest pipeline run and of each of its steps (``completed``, ``cached``, ...)."""
        result = self.run(str(BIN / "python"), "-c", STEP_STATUSES)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def write_config(self, name: str, base: str, **overrides: object) -> str:
        """A copy of config ``base`` with ``parameters`` overridden (dotted keys), saved as ``name``."""
        import yaml

        document = yaml.safe_load((self.root / base).read_text())
        for dotted, value in overrides.items():
            node = document["parameters"]
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        (self.root / name).write_text(yaml.safe_dump(document))
        return name

    @property
    def tracking_uri(self) -> str:
        """The project's MLflow store: the team server, else what ``facetransfer setup`` created."""
        return self.server_uri or f"sqlite:///{self.root / '.local' / 'mlflow' / 'mlflow.db'}"

    def mlflow(self):  # -> MlflowClient
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri)


TINY_DEMO = ("--segmentation-images", "48", "--real-images", "32", "--fake-images", "24")
"""Demo data small enough for end-to-end tests (configs/tiny.yaml's validation bounds fit it)."""
