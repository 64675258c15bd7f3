"""Import contract of `policies`: pure, imports nothing of ours, no clock, environment, or I/O libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "policies"
MODULES = sorted(PACKAGE.glob("*.py"))
ALLOWED_ROOTS = {
    "__future__",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "hashlib",
    "importlib",
    "json",
    "orjson",
    "re",
    "types",
    "typing",
    "yaml",
    "policies",
}
BANNED_CALLS = {"now", "utcnow", "today", "time", "time_ns", "getenv", "urandom", "open"}


def _imports(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_module_is_checked() -> None:
    assert len(MODULES) >= 10


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_module_imports_only_pure_libraries(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert _imports(tree) <= ALLOWED_ROOTS, path.name
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not called & BANNED_CALLS, path.name
    assert ast.get_docstring(tree), f"{path.name} lacks its one-line responsibility"
