"""The library's import graph against the layering the README's "Layout" section draws.

Every import of one ``facetransfer`` module by another counts, those inside functions included
(a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` do not (they never run).
A package may import only from lower layers; within a package, modules must not import in a circle.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "facetransfer"
LAYER_ROW = re.compile(r"^\|\s*(\d+)\s*\|([^|]*)\|")


def readme_layers() -> dict[str, int]:
    """``{package or top-level module: layer}`` from the README's layout table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Layout\n", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for line in section.splitlines():
        match = LAYER_ROW.match(line)
        if match:
            for name in re.findall(r"`([a-z_]+)`", match.group(2)):
                layers[name] = int(match.group(1))
    return layers


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imported_modules(path: Path, known: set[str]) -> Iterator[str]:
    """The ``facetransfer`` modules ``path`` imports (a name imported from a package counts if a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (name for name in names if name in known)


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in LIBRARY.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        # a module's own packages are imported by Python anyway: not an edge
        graph[name] = {
            target for target in imported_modules(path, known) if not name.startswith(f"{target}.")
        } - {name}
    return graph


def unit_of(module: str) -> str:
    """The layered unit: the package (or top-level module) under ``facetransfer``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "facetransfer"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer_in_the_readme() -> None:
    layers = readme_layers()
    units = {unit_of(module) for module in import_graph()} - {"facetransfer"}
    assert units - set(layers) == set(), "packages missing from the README's layout table"
    assert set(layers) - units == set(), "the README's layout table names packages that do not exist"


def test_imports_only_point_down_the_layers() -> None:
    layers = readme_layers()
    upward = sorted(
        f"{module} ({unit_of(module)}, layer {layers[unit_of(module)]}) imports {target} "
        f"({unit_of(target)}, layer {layers[unit_of(target)]})"
        for module, targets in import_graph().items()
        for target in targets
        if unit_of(module) != unit_of(target)
        and unit_of(module) in layers
        and unit_of(target) in layers
        and layers[unit_of(target)] >= layers[unit_of(module)]
    )
    assert upward == []


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_no_two_modules_share_a_name() -> None:
    names: dict[str, list[str]] = {}
    for path in LIBRARY.rglob("*.py"):
        if path.name != "__init__.py":
            names.setdefault(path.stem, []).append(module_name(path))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set(), "c": {"a"}}, []),
    ],
)
def test_circle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert circles(graph) == expected


def test_the_checker_sees_lazy_imports_and_ignores_type_checking(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from facetransfer.cli import main\n"
        "def f():\n    from facetransfer.scoring import scorer\n",
        encoding="utf-8",
    )
    known = {"facetransfer.cli", "facetransfer.scoring", "facetransfer.scoring.scorer"}
    assert set(imported_modules(module, known)) == {"facetransfer.scoring", "facetransfer.scoring.scorer"}
