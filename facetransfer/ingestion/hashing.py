"""Content hashes: a persistent cache of per-file facts and fingerprints of whole sources.

Re-ingesting an unchanged tree must not read every file again. ``FileFactCache`` stores what
``facetransfer.imaging.checks`` found about a file (sha256, size, mode, problems) in a SQLite
database keyed by the absolute path, and trusts an entry only while the file's size and
modification time (nanoseconds) are unchanged. SQLite is in the standard library, survives an
interrupted run and is fast enough for a few hundred thousand files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from facetransfer.imaging.checks import FileFacts
from facetransfer.ingestion.file_names import is_utf8_path, printable_path
from facetransfer.ingestion.records import QuarantineCheck

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "file_facts.sqlite"
_SCHEMA_VERSION = 2
_FACT_COLUMNS = (
    "sha256", "size_bytes", "width", "height", "mode", "decoded", "check_code", "problem", "unknown_pixels",
    "first_unknown",
)  # fmt: skip
_PREFETCH_CHUNK = 500


class FileFactCache:
    """Facts about files, valid while ``(size, mtime_ns)`` is unchanged.

    ``kind`` separates facts of different inspections of the same file (``"image"``, or
    ``"mask:<encoding>:<scheme>"``), so a change of class scheme re-inspects the masks.
    ``prefetch`` loads the entries of many files in a few queries, which is what makes a
    re-ingest of a few hundred thousand files take seconds. Paths are stored as UTF-8 text: a
    file whose name is not valid UTF-8 is skipped by ``prefetch`` and refused by ``get``/``put``
    with an error naming it (callers quarantine such files before asking the cache).

    Use as a context manager or call ``close()``; writes are committed on close.

    Args:
        cache_dir: folder of the cache database (created if missing); ``None`` keeps the cache in
            memory for this process only.
    """

    def __init__(self, cache_dir: str | Path | None) -> None:
        if cache_dir is None:
            target = ":memory:"
        else:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            target = str(Path(cache_dir) / CACHE_FILE_NAME)
        self._connection = sqlite3.connect(target)
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        if version != _SCHEMA_VERSION:  # an older layout: start afresh rather than misread it
            self._connection.execute("DROP TABLE IF EXISTS facts")
            self._connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS facts (path TEXT, kind TEXT, size INTEGER, mtime_ns INTEGER, "
            f"{', '.join(_FACT_COLUMNS)}, PRIMARY KEY (path, kind))"
        )
        self._prefetched: dict[tuple[str, str], tuple] = {}
        self.hits = 0
        self.misses = 0

    def prefetch(self, paths: Iterable[str | Path], kind: str) -> None:
        """Load the cached entries of ``paths`` for ``kind`` into memory (a few large queries)."""
        keys = [str(path) for path in paths if is_utf8_path(path)]
        for start in range(0, len(keys), _PREFETCH_CHUNK):
            chunk = keys[start : start + _PREFETCH_CHUNK]
            placeholders = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT * FROM facts WHERE kind = ? AND path IN ({placeholders})", (kind, *chunk)
            )
            for row in rows:
                self._prefetched[(row[0], row[1])] = row[2:]

    def get(self, path: str | Path, kind: str, size: int, mtime_ns: int) -> FileFacts | None:
        """Cached facts of ``path`` if recorded for the same size and modification time."""
        key = (_key(path), kind)
        row = self._prefetched.pop(key, None)
        if row is None:
            found = self._connection.execute(
                "SELECT * FROM facts WHERE path = ? AND kind = ?", key
            ).fetchone()
            row = found[2:] if found is not None else None
        if row is None or row[0] != size or row[1] != mtime_ns:
            self.misses += 1
            return None
        self.hits += 1
        return _facts_from_row(row[2:])

    def put(self, path: str | Path, kind: str, size: int, mtime_ns: int, facts: FileFacts) -> None:
        """Record ``facts`` for ``path`` at the given size and modification time."""
        values = (_key(path), kind, size, mtime_ns, *_facts_to_row(facts))
        self._connection.execute(
            f"INSERT OR REPLACE INTO facts VALUES ({','.join('?' * len(values))})", values
        )

    def close(self) -> None:
        """Commit pending writes and close the database."""
        self._connection.commit()
        self._connection.close()

    def __enter__(self) -> FileFactCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _key(path: str | Path) -> str:
    if not is_utf8_path(path):
        raise ValueError(
            f"file name {printable_path(path)!r} is not valid UTF-8 and cannot be a cache key; "
            "quarantine or rename the file"
        )
    return str(path)


def _facts_to_row(facts: FileFacts) -> tuple:
    first = json.dumps(list(facts.first_unknown)) if facts.first_unknown is not None else None
    check = facts.check.value if facts.check is not None else None
    return (facts.sha256, facts.size_bytes, facts.width, facts.height, facts.mode, int(facts.decoded), check,
            facts.problem, facts.unknown_pixels, first)  # fmt: skip


def _facts_from_row(row: tuple) -> FileFacts:
    sha256, size_bytes, width, height, mode, decoded, check, problem, unknown_pixels, first = row
    return FileFacts(
        sha256=sha256,
        size_bytes=size_bytes,
        width=width,
        height=height,
        mode=mode,
        decoded=bool(decoded),
        check=QuarantineCheck(check) if check is not None else None,
        problem=problem,
        unknown_pixels=unknown_pixels,
        first_unknown=tuple(json.loads(first)) if first is not None else None,
    )


def fingerprint_lines(lines: Iterable[str]) -> str:
    """Order-independent SHA-256 of a set of text lines."""
    digest = hashlib.sha256()
    for line in sorted(lines):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def source_fingerprints(manifest: object) -> dict[str, str]:
    """Content fingerprint of each source of a manifest.

    The fingerprint covers what training sees (image hash, mask hash, label, generator) and
    not where the files are, so it is the same on every machine and changes exactly when a
    source's content does. Face crops (``faces: align``) count by the picture they were cut from
    (``source_sha256``, one line per picture), so the data identity follows the source files and
    not the crops' settings.

    Args:
        manifest: a manifest ``pandas.DataFrame`` (columns ``source``, ``sha256``, ``label``,
            ``generator`` and optionally ``mask_sha256``, ``source_sha256`` and ``source_path``).

    Returns:
        ``{source: hex digest}`` sorted by source name.
    """
    import pandas as pd

    frame = manifest if isinstance(manifest, pd.DataFrame) else pd.DataFrame(manifest)
    if frame.empty:
        return {}
    if "source_sha256" in frame and frame["source_sha256"].notna().any():
        crops = frame["source_sha256"].notna()
        frame = frame[~crops | ~frame.duplicated(["source", "source_path"])]  # one line per picture
        picture_hashes = frame["source_sha256"].where(frame["source_sha256"].notna(), frame["sha256"])
        frame = frame.assign(sha256=picture_hashes)
    masks = frame["mask_sha256"] if "mask_sha256" in frame else pd.Series("", index=frame.index)
    lines = (
        frame["sha256"].astype(str)
        + " "
        + masks.fillna("").astype(str)
        + " "
        + frame["label"].astype(str)
        + " "
        + frame["generator"].fillna("").astype(str)
    )
    return {
        str(source): fingerprint_lines(group.tolist())
        for source, group in lines.groupby(frame["source"], sort=True)
    }


def data_fingerprint(fingerprints: dict[str, str]) -> str:
    """Content hash of a whole manifest from its per-source ``fingerprints`` (source_fingerprints)."""
    return fingerprint_lines(f"{name} {digest}" for name, digest in fingerprints.items())
