"""Source declarations: options per format, roles, names, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from facetransfer.ingestion.errors import SourceConfigError
from facetransfer.ingestion.sources import SourceConfig, parse_sources


def test_options_of_another_format_are_rejected() -> None:
    with pytest.raises(ValidationError, match="scheme"):
        SourceConfig(name="a", format="artifact", path="x", scheme="mut1ny11")


@pytest.mark.parametrize(
    ("source_format", "role"), [("ffhq", "fake"), ("mut1ny", "real"), ("artifact", "segmentation")]
)
def test_roles_a_format_cannot_play_are_rejected(source_format: str, role: str) -> None:
    with pytest.raises(ValidationError, match="not valid for format"):
        SourceConfig(name="a", format=source_format, path="x", role=role)


def test_unknown_option_and_bad_identity_pattern_are_rejected() -> None:
    with pytest.raises(ValidationError):
        SourceConfig(name="a", format="folder", path="x", colour="red")
    with pytest.raises(ValidationError, match="regular expression"):
        SourceConfig(name="a", format="folder", path="x", identity_pattern="(unclosed")


def test_duplicate_names_are_rejected() -> None:
    entries = [{"name": "a", "format": "folder", "path": "x"}, {"name": "a", "format": "ffhq", "path": "y"}]
    with pytest.raises(SourceConfigError, match="'a'"):
        parse_sources(entries)


def test_relative_paths_resolve_against_root_and_absolute_paths_stay(tmp_path: Path) -> None:
    assert (
        SourceConfig(name="a", format="folder", path="data/x").resolve_path(tmp_path) == tmp_path / "data/x"
    )
    assert (
        SourceConfig(name="a", format="folder", path=str(tmp_path / "y")).resolve_path("/else")
        == tmp_path / "y"
    )
