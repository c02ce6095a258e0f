"""The mock package's shape: no import cycles, no optional-import fallbacks, no other module's privates."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "mock-model" / "src" / "mock_model"
MODULES = {p.stem: ast.parse(p.read_text()) for p in PACKAGE.glob("*.py")}

pytestmark = pytest.mark.unit


def internal_imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
    return found


def test_no_import_cycle_between_the_mocks_modules():
    graph = {name: internal_imports(tree) & set(MODULES) for name, tree in MODULES.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for dep in graph[name]:
            assert dep not in path, f"import cycle: {' -> '.join([*path, dep])}"
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(name)

    for name in graph:
        visit(name, [name])


def test_no_import_error_fallbacks_and_no_private_attributes_of_other_modules():
    for name, tree in MODULES.items():
        imported = {
            a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name):
                assert node.type.id != "ImportError", f"{name}.py falls back on ImportError (line {node.lineno})"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported:
                private = node.attr.startswith("_") and not node.attr.startswith("__")
                assert not private, f"{name}.py reads {node.value.id}.{node.attr} (line {node.lineno})"
