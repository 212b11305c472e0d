"""Fingerprints that tie results to the exact code and data that produced them."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path


@cache
def library_code_hash() -> str:
    """SHA-256 of every Python source file of the ``facetransfer`` package.

    ZenML keys its step cache on the step's own code; the steps are thin and the work happens
    here, so the pipeline adds this hash to every cache key (a change in the library reruns the
    steps) and training keys its resumable checkpoints on it.
    """
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
