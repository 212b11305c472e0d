"""The shape of a bad-input case: what is built, which entry point gets it, what must come out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

EntryPoint = Literal["ingestion", "validation", "add-generator", "predict", "status"]
ENTRY_POINTS: tuple[EntryPoint, ...] = ("ingestion", "validation", "add-generator", "predict", "status")


@dataclass(frozen=True)
class Built:
    """What a case's builder wrote, in the form its entry point takes.

    Attributes:
        sources: ``ingestion``/``validation``: source declarations (paths inside the case folder).
        inputs: ``add-generator``: the incoming folder; ``predict``: the files/folders to score.
        tracking_uri: ``predict``/``status``: the registry to ask (default: the corpus registry,
            which holds a tiny champion detector).
        good: images that must still go through (manifest rows, files added, images scored).
        bounds: ``validation``: overrides of the corpus's small-data ``ValidationBounds``.
        options: ``predict``/``status``: extra command-line options (``--strict``, ``--model``).
    """

    sources: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    tracking_uri: str | None = None
    good: int | None = None
    bounds: dict[str, Any] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)


@dataclass
class Observation:
    """What an entry point did with a case.

    Attributes:
        error: the error message when the entry point refused the input (exception or non-zero exit).
        flagged: ``(code, text)`` per file set aside: quarantine rows (check, path + reason),
            files ``add-generator`` left out, ``predict`` rows with an ``error`` (code ``error``).
        passed: images that went through (manifest rows, files added, images scored).
        failed_expectations: ``validation``: names of the GX expectations that failed.
        report: text where reports end up (ingestion report JSON, command output).
    """

    error: str | None = None
    flagged: list[tuple[str, str]] = field(default_factory=list)
    passed: int | None = None
    failed_expectations: list[str] = field(default_factory=list)
    report: str = ""


@dataclass(frozen=True)
class Expected:
    """The outcome a case must have.

    ``kind``: ``quarantined`` (the entry point goes on; a file is set aside with check ``code``
    and ``text`` in its path or reason), ``error`` (the entry point stops with ``text`` in its
    message), ``accepted`` (nothing set aside; ``text``, if given, appears in the report),
    ``expectation`` (GX expectation ``code`` fails), ``error_row`` (``predict`` scores the
    others and gives the file a row whose ``error`` holds ``text``).
    """

    kind: Literal["quarantined", "error", "accepted", "expectation", "error_row"]
    code: str = ""
    text: str = ""

    def describe(self) -> str:
        """The outcome as the corpus table shows it."""
        detail = f' ("{self.text}")' if self.text else ""
        return {
            "quarantined": f"quarantined: `{self.code}`{detail}",
            "error": f"clear error{detail}, nothing changed",
            "accepted": "accepted" + (f', reported ("{self.text}")' if self.text else ""),
            "expectation": f"GX expectation `{self.code}` fails",
            "error_row": f"others scored, rc 0; row with `error`{detail}",
        }[self.kind]

    def check(self, seen: Observation, good: int | None) -> None:
        """Assert that ``seen`` is this outcome (with ``good`` images through when given)."""
        if self.kind == "error":
            assert seen.error is not None, f"expected an error containing {self.text!r}, got {seen}"
            assert self.text in seen.error, f"{self.text!r} not in error: {seen.error}"
            return
        assert seen.error is None, f"unexpected error: {seen.error}"
        if good is not None:
            assert seen.passed == good, f"{seen.passed} images went through, expected {good}"
        if self.kind == "accepted":
            assert not seen.flagged, f"expected nothing set aside, got {seen.flagged}"
            assert not seen.failed_expectations, f"expected every expectation met: {seen.failed_expectations}"
            assert self.text in seen.report, f"{self.text!r} not reported in {seen.report[:2000]}"
        elif self.kind == "expectation":
            assert self.code in seen.failed_expectations, f"failed: {seen.failed_expectations}"
        else:
            code = "error" if self.kind == "error_row" else self.code
            matching = [text for flag, text in seen.flagged if flag == code]
            assert any(self.text in text for text in matching), (
                f"no {code} with {self.text!r} in {seen.flagged}"
            )


def quarantined(code: str, text: str = "") -> Expected:
    """Set aside with check ``code``; ``text`` appears in the file's path or reason."""
    return Expected("quarantined", code, text)


def refused(text: str) -> Expected:
    """The entry point stops with a message containing ``text``."""
    return Expected("error", text=text)


def accepted(reported: str = "") -> Expected:
    """Nothing set aside; ``reported`` appears in the report."""
    return Expected("accepted", text=reported)


def fails_expectation(name: str) -> Expected:
    """The GX expectation ``name`` fails."""
    return Expected("expectation", name)


def error_row(text: str) -> Expected:
    """``predict`` scores the good images and reports this one in its ``error`` column."""
    return Expected("error_row", text=text)


@dataclass(frozen=True)
class BadInput:
    """One case of the corpus.

    Attributes:
        name: what the input is, as a user would describe it.
        entry_point: where it is given.
        build: writes the input under the given (empty) case folder and says what was built.
        expected: the outcome.
    """

    name: str
    entry_point: EntryPoint
    build: Callable[[Path], Built]
    expected: Expected

    @property
    def id(self) -> str:
        """A test id: entry point and name."""
        return f"{self.entry_point}: {self.name}"


def render_table(cases: list[BadInput]) -> str:
    """The corpus as the markdown document ``docs/bad_inputs.md``."""
    lines = [
        "# Bad inputs: what each entry point does with them",
        "",
        "Generated from the corpus in `tests/data/bad_inputs/cases.py`; regenerate with",
        "`python -m tests.data.bad_inputs > docs/bad_inputs.md`. `tests/data/test_bad_inputs.py` runs",
        "every case through its real entry point and checks the outcome below, and fails when this",
        "file differs from the corpus.",
        "",
        "| case | entry point | outcome |",
        "|---|---|---|",
    ]
    lines += [
        f"| {case.name} | {case.entry_point} | {case.expected.describe()} |".replace("\n", " ")
        for case in cases
    ]
    return "\n".join(lines) + "\n"
