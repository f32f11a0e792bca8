"""The engine's public functions take settings objects, not long keyword lists: none has more
than ten parameters (read from the source with ``ast``: module functions, methods and the
constructors of public classes; ``self``/``cls`` and nested helpers left out)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOST = 10


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return len(names) - (1 if method and names and names[0] in ("self", "cls") else 0)


def public_functions(tree: ast.Module) -> list[tuple[str, int]]:
    """(qualified name, parameter count) of each public function and method of a module."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found.append((node.name, parameter_count(node, method=False)))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        item.name == "__init__" or not item.name.startswith("_")):
                    found.append((f"{node.name}.{item.name}", parameter_count(item, method=True)))
    return found


def test_no_public_function_of_the_engine_takes_more_than_ten_parameters():
    long = [f"{path.relative_to(ROOT)}: {name} ({count})" for path in sorted((ROOT / "inference").rglob("*.py"))
            for name, count in public_functions(ast.parse(path.read_text())) if count > MOST]
    assert long == []


def test_the_count_sees_every_kind_of_parameter():
    tree = ast.parse("def f(a, /, b, *c, d, **e): pass\n"
                     "class K:\n    def __init__(self, a, b): pass\n    def _hidden(self, *a): pass\n"
                     "def _private(a, b, c, d, e, f, g, h, i, j, k): pass\n")
    assert public_functions(tree) == [("f", 5), ("K.__init__", 2)]
