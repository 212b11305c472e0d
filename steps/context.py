"""What steps read from their ZenML context: the project root, provenance tags, checkpoint paths."""

from __future__ import annotations

from pathlib import Path

from zenml import get_step_context
from zenml.utils import source_utils

from facetransfer.provenance import library_code_hash, library_code_of
from facetransfer.tracking.runs import git_source_tags
from facetransfer.workflow.model_runs import PIPELINE_RUN_TAG


def project_root() -> Path:
    """The ZenML source root (where ``zenml init`` ran): relative config paths start here."""
    return Path(source_utils.get_source_root())


def provenance_tags(**extra: object) -> dict[str, str]:
    """Tags tying an MLflow run or model version to this pipeline run, the code and the data."""
    run = get_step_context().pipeline_run
    tags = {
        PIPELINE_RUN_TAG: str(run.id),
        "zenml.run_id": str(run.id),
        "zenml.run_name": run.name,
        "code.library_hash": library_code_hash()[:16],
        **git_source_tags(project_root()),
    }
    tags.update({key: str(value) for key, value in extra.items()})
    return tags


def checkpoint_dir(name: str) -> Path:
    """Resumable-checkpoint folder of one training step, keyed by the training code.

    A crashed run resumes from here when rerun with the same training code (a change elsewhere in
    the library, e.g. the CLI, keeps it); a change of that code starts fresh. The checkpoint's own
    run key guards the settings and the data.
    """
    code = library_code_of("facetransfer.training.tasks")[:12]
    return project_root() / ".local" / "checkpoints" / f"{name}-{code}"


def sample_cache_dir(cache_dir: str) -> Path:
    """Folder of the on-disk sample cache: ``samples/`` under the data cache folder (``data.cache_dir``)."""
    path = Path(cache_dir).expanduser()
    return (path if path.is_absolute() else project_root() / path) / "samples"
