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


def quiet_third_party_telemetry() -> None:
    """Switch off telemetry and update checks unless the user set the variables otherwise."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def shell_exports() -> str:
    """``export`` lines for the variables above, for the project's shell scripts."""
    return "\n".join(f"export {name}={value}" for name, value in TELEMETRY_OFF.items())


if __name__ == "__main__":
    print(shell_exports())
