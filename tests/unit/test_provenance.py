"""Cache keys follow the code a step runs: the static import closure of its library modules."""

from __future__ import annotations

import hashlib

from facetransfer.provenance import library_code_of, library_modules_of, module_file


def test_a_step_depends_on_the_library_it_runs_and_not_on_the_rest() -> None:
    training = library_modules_of("facetransfer.training.tasks")
    assert {
        "facetransfer.training.fit",
        "facetransfer.models.deeplab",
        "facetransfer.inputs.datasets",
    } <= set(training)
    # Editing the CLI, the project set-up or the review page must not retrain anything.
    unrelated = {"facetransfer.cli", "facetransfer.cli.project_commands", "facetransfer.scoring.app"}
    assert not unrelated & set(training)
    lazy = library_modules_of("facetransfer.workflow.champion")  # imports inside functions count too
    assert "facetransfer.registry.client" in lazy


def test_the_key_is_the_content_of_exactly_those_modules() -> None:
    modules = library_modules_of("facetransfer.evaluation.robustness")
    digest = hashlib.sha256()
    for name in modules:
        path = module_file(name)
        assert path is not None and path.is_file()
        digest.update(name.encode())
        digest.update(path.read_bytes())
    assert library_code_of("facetransfer.evaluation.robustness") == digest.hexdigest()
    assert library_code_of("facetransfer.evaluation.robustness") != library_code_of("facetransfer.cli")
