"""The layout rules of issue #19, checked on every run: no import circle inside `routerls`
(grimp's import graph; imports under `if TYPE_CHECKING:` are not run, so they do not count), no
module over 450 lines and no function over 60 (decorators and docstring included). An exception
must be listed here with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "routerls"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
EXCEPTIONS: dict[str, str] = {}  # "module" or "module.function" → why it may be longer


def _sources() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts).removesuffix(".__init__")] = path
    assert len(out) > 20, f"found only {len(out)} modules under {PACKAGE}"
    return out


def test_no_import_circle():
    graph = grimp.build_graph("routerls", exclude_type_checking_imports=True)
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                circles.append(" → ".join((module, *chain)))
    assert circles == []


def test_no_module_over_the_limit():
    long = {name: n for name, path in _sources().items()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES and name not in EXCEPTIONS}
    assert long == {}


def test_no_function_over_the_limit():
    long = {}
    for name, path in _sources().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                size = node.end_lineno - first + 1
                if size > MAX_FUNCTION_LINES and f"{name}.{node.name}" not in EXCEPTIONS:
                    long[f"{name}.{node.name}"] = size
    assert long == {}
