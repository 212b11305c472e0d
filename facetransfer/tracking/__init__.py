"""MLflow conventions of the project: where runs live, how they are named, logged and registered.

Plain MLflow (no ZenML): the pipeline steps call these helpers inside the MLflow run that the
stack's experiment tracker opened, and the CLI uses them to read the registry.
"""

from facetransfer.tracking.store import (
    EXPERIMENT_NAME,
    default_tracking_uri,
    ensure_experiment,
    resolve_tracking_uri,
)

__all__ = ["EXPERIMENT_NAME", "default_tracking_uri", "ensure_experiment", "resolve_tracking_uri"]
