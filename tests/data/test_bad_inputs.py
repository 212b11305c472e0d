"""The bad-input corpus: every case through its real entry point; the documented table stays true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.bad_inputs import CASES, BadInput, render_table
from tests.data.bad_inputs.entry_points import Resources, run_case

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "bad_inputs.md"


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> Resources:
    return Resources(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_its_documented_outcome(case: BadInput, resources: Resources, tmp_path: Path) -> None:
    built, observation = run_case(case, tmp_path / "case", resources)
    case.expected.check(observation, built.good)


def test_documented_table_is_the_corpus() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render_table(CASES), (
        "docs/bad_inputs.md is out of date: run `python -m tests.data.bad_inputs > docs/bad_inputs.md`"
    )


def test_case_names_are_unique_per_entry_point() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
