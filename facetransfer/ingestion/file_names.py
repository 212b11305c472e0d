"""File names that are not valid UTF-8: detect them and show them without breaking text outputs.

POSIX file names are bytes. Python decodes the bytes that are not UTF-8 into lone surrogates,
which no UTF-8 output accepts (SQLite, parquet, JSON for MLflow, ``metadata.csv``), so such a
file is quarantined (``invalid_file_name``) with its name shown byte-escaped, and never reaches
those outputs.
"""

from __future__ import annotations

import os
from pathlib import Path


def is_utf8_path(path: str | Path) -> bool:
    """Whether ``path`` encodes as UTF-8 (its bytes on disk were valid UTF-8)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: str | Path) -> str:
    """``path`` as valid UTF-8 text: bytes that are not UTF-8 are shown as ``\\xNN``."""
    text = os.fspath(path)
    if is_utf8_path(text):
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def invalid_name_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be ingested because of its name, or ``None`` when the name is fine."""
    if is_utf8_path(path):
        return None
    return (
        f"file name {printable_path(path)!r} is not valid UTF-8; give the file a UTF-8 name so that "
        "it can be recorded in the manifest"
    )
