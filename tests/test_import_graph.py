"""Dependencies run one way: CLI -> jobs -> engine. Read from the source with ``ast``, every import
counts, those inside functions too (a lazy import still closes a cycle, it only hides it)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = "inference.cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(name: str, path: Path) -> set[str]:
    """Every module ``path`` imports anywhere in its body: ``from . import x`` names ``pkg.x``,
    ``from .x import y`` names ``pkg.x`` and ``pkg.x.y`` (either may be the module)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph(*folders: str) -> dict[str, set[str]]:
    """Module -> the modules of ``folders`` it imports (itself left out)."""
    files = {module_name(p): p for folder in folders for p in (ROOT / folder).rglob("*.py")}
    return {name: (imported(name, path) & files.keys()) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the modules along it (first one again at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the path being walked, "done" once left
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := walk(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_the_engine_has_no_import_cycle_lazy_imports_included():
    cycle = find_cycle(import_graph("inference"))
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("folder", ["inference", "nuke_plugin", "bench"])
def test_nothing_imports_the_cli_but_the_cli(folder):
    """Demo, farm and benchmarks run jobs through :mod:`inference.jobs`; the CLI is argparse on top."""
    graph = import_graph(folder) if folder == "inference" else {
        module_name(p): imported(module_name(p), p) for p in (ROOT / folder).rglob("*.py")}
    assert sorted(name for name, targets in graph.items() if CLI in targets and name != CLI) == []


def test_the_checks_see_what_they_look_for():
    """The graph reads function-level and relative imports: a cycle closed only inside a function,
    and a package's ``from . import`` of a sibling, are found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    names = imported("inference.demo.run", ROOT / "inference" / "demo" / "run.py")
    assert "inference.jobs.runners" in names and "inference.colour" in names
    lazy = imported("inference.jobs.runners", ROOT / "inference" / "jobs" / "runners.py")
    assert "inference.pipeline" in lazy  # imported inside run_render only
