"""The shape the code keeps: no import cycles among PlotBurn's own modules (imports
inside functions count: they only hide a cycle), and the deployed package never
imports test code. `make lint` runs this file too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What is deployed (main.py + functions/) and the operator's CLI.
CHECKED = [
    ROOT / "main.py",
    *sorted((ROOT / "functions").rglob("*.py")),
    *sorted((ROOT / "plotburn_cli").rglob("*.py")),
]
OURS = ("functions", "plotburn_cli", "main")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import, at any depth, except those only for the type checker."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (
                n
                for child in node.orelse
                for n in _imports(ast.Module(body=[child], type_ignores=[]))
            )
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def import_graph(files: list[Path]) -> dict[str, set[str]]:
    modules = {module_name(p) for p in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in files:
        here = module_name(path)
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.module:
                # `from functions import views` imports the module functions.views.
                targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            for target in targets:
                # The deepest of our modules the import names (a module, not a symbol in it).
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != here and not here.startswith(f"{target}."):
                    graph[here].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = import_graph(CHECKED)
    assert "functions.usecases.roast_movie" in graph and graph["functions.bootstrap"], (
        "the scan found nothing"
    )
    assert cycles(graph) == []


def test_the_deployed_package_never_imports_tests() -> None:
    for path in [ROOT / "main.py", *sorted((ROOT / "functions").rglob("*.py"))]:
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            assert not [n for n in names if n == "tests" or n.startswith("tests.")], path


def test_the_deployed_package_holds_no_fakes() -> None:
    for path in [ROOT / "main.py", *sorted((ROOT / "functions").rglob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        fakes = [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and node.name.startswith(("Memory", "Fake"))
        ]
        assert not fakes, f"{path.relative_to(ROOT)} defines test doubles: {fakes}"
