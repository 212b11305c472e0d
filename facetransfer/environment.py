"""Process environment shared by every entry point of the project."""

from __future__ import annotations

import os

TELEMETRY_OFF = {
    "ZENML_ANALYTICS_OPT_IN": "false",
    "ZENML_AUTO_OPEN_DASHBOARD": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "NO_ALBUMENTATIONS_UPDATE": "1",
    "GX_ANALYTICS_ENABLED": "False",
}
"""Variables that switch off telemetry and update checks of the stack's tools (no network here)."""

MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
"""Bounded retries for an MLflow tracking/registry server. MLflow's own defaults (7 retries,
backoff factor 2, 120 s timeout) keep a command waiting ~4 minutes per request when the server is
down; with these an unreachable server is reported after ~3 retries within seconds (a hung one
after 4 × 15 s). A value the user has set is kept."""


def quiet_third_party_telemetry() -> None:
    """Switch off telemetry and update checks unless the user set the variables otherwise."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def bound_mlflow_retries() -> None:
    """Default MLflow's HTTP retries and timeout to ``MLFLOW_HTTP_DEFAULTS`` unless the user set them."""
    for name, value in MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def apply_project_defaults() -> None:
    """What every entry point sets first: telemetry off and bounded MLflow retries."""
    quiet_third_party_telemetry()
    bound_mlflow_retries()


def shell_exports() -> str:
    """``export`` lines for the variables above, for the project's shell scripts.

    Telemetry is switched off unconditionally; the MLflow retry bounds keep a value already set.
    """
    lines = [f"export {name}={value}" for name, value in TELEMETRY_OFF.items()]
    lines += [f'export {name}="${{{name}:-{value}}}"' for name, value in MLFLOW_HTTP_DEFAULTS.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(shell_exports())
