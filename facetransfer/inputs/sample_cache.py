"""On-disk cache of decoded, resized images, keyed by file content and preprocessing.

An epoch over 100k 1024 px JPEGs should neither decode every file again nor need the dataset in
RAM. Stage one of ``facetransfer.inputs.preprocessing`` (the decoded image at load size) is stored
once per ``(file sha256, preprocessing.cache_key)`` as an uncompressed ``.npy`` file and read back
memory-mapped, so a 256 px crop of a cached 1024 px image reads only the pages of that crop.
The key holds the content hash, not the path: renamed or copied files hit the cache, and a file
changed under the same name misses it.

Writes go to a temporary name first and are renamed into place, so concurrent readers (DataLoader
workers, a second run) never see half a file. A file that cannot be read back is treated as a
miss and rewritten.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class SampleCache:
    """Stage-one arrays on disk, one ``.npy`` file per key, fanned out over 256 sub-folders.

    Args:
        directory: cache folder (created when first written).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(content_sha256: str, preprocessing_key: str) -> str:
        """Cache key of a file's stage one under some preprocessing."""
        if not content_sha256:
            raise ValueError("a sample cache key needs the file's sha256")
        return hashlib.sha256(f"{content_sha256}|{preprocessing_key}".encode()).hexdigest()

    def path(self, key: str) -> Path:
        """Where the array of ``key`` is stored."""
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached array (read-only, memory-mapped), or ``None`` on a miss."""
        path = self.path(key)
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("sample cache entry %s is unreadable (%s); decoding again", path, error)
            return None

    def put(self, key: str, array: np.ndarray) -> None:
        """Store ``array`` under ``key`` atomically."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.save(stream, np.ascontiguousarray(array), allow_pickle=False)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
