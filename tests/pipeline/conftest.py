"""The one tiny project that end-to-end modules share: demo data, set-up, one training run.

Training the tiny pipeline costs minutes; the modules that need a trained project (the pipeline
checks, serving and batch scoring) share this one instead of training their own.
"""

from __future__ import annotations

import pytest

from tests.pipeline.project import TINY_DEMO, Project


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project after ``facetransfer setup`` (twice: idempotent) and one tiny ``transfer_pipeline`` run."""
    project = Project.create(tmp_path_factory.mktemp("e2e"))
    project.facetransfer("demo-data", "--out", "data", *TINY_DEMO)
    setup = project.facetransfer("setup")
    assert "facetransfer-local" in setup.stdout
    again = project.facetransfer("setup")  # idempotent: nothing registered twice
    assert "registered" not in again.stdout
    project.pipeline("configs/tiny.yaml")
    project.first_run = project.last_run()  # tests read it whatever ran before them
    return project
