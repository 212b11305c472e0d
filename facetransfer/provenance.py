"""Fingerprints that tie results to the exact code and data that produced them.

A step's cache key must change when the code it runs changes, and only then: editing a CLI
docstring must not retrain every model. ``library_code_of`` hashes the ``facetransfer`` modules a
module can reach through its imports (found statically, lazy imports inside functions included),
so each ZenML step keys its cache on its own part of the library; ``library_code_hash`` (the
whole package) remains a provenance tag.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from functools import cache
from pathlib import Path

PACKAGE = "facetransfer"
_PACKAGE_DIR = Path(__file__).parent


@cache
def library_code_hash() -> str:
    """SHA-256 of every Python source file of the ``facetransfer`` package (a provenance tag)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def module_file(name: str) -> Path | None:
    """Source file of module ``name``: found on disk for ``facetransfer``, else by import spec."""
    top, _, rest = name.partition(".")
    if top == PACKAGE:
        stem = _PACKAGE_DIR.joinpath(*rest.split(".")) if rest else _PACKAGE_DIR
        for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None
    loaded = sys.modules.get(name)  # a step module asking for its own key is already imported
    if loaded is not None:
        origin = getattr(loaded, "__file__", None)
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


@cache
def _library_imports(name: str) -> frozenset[str]:
    """``facetransfer`` modules that module ``name`` imports anywhere in its source."""
    path = module_file(name)
    if path is None:
        return frozenset()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = ".".join(p for p in (base, node.module) if p) if node.level else node.module or ""
            named |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
    # Importing a.b.c runs a/__init__ and a/b/__init__ too; `from a import c` may name a module.
    split = [module.split(".") for module in named]
    prefixes = {".".join(parts[: i + 1]) for parts in split for i in range(len(parts))}
    return frozenset(m for m in prefixes if m.split(".")[0] == PACKAGE and module_file(m) is not None)


def library_modules_of(module: str) -> list[str]:
    """Every ``facetransfer`` module ``module`` can run, through its imports (transitively)."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_library_imports(name) - seen)
    return sorted(name for name in seen if name.split(".")[0] == PACKAGE)


@cache
def library_code_of(module: str) -> str:
    """SHA-256 of the source of the ``facetransfer`` modules ``module`` can run (see the module docstring)."""
    digest = hashlib.sha256()
    for name in library_modules_of(module):
        path = module_file(name)
        assert path is not None  # listed only when found
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
