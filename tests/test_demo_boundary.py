"""The demo stays at the edge: nothing the platform runs imports it, so no annotator path,
worker task or service can depend on what the demo sets up (issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
ALLOWED = {"app/demo.py", "app/cli/demo.py"}
"""The demo itself, and the `miscomp demo` command that runs it."""


def _imported_modules(tree: ast.Module) -> set[str]:
    """Every module the file imports, anywhere in it (functions included), by full name:
    ``from app import demo`` counts as ``app.demo``; so does a string that names a module
    exactly (``importlib.import_module("app.demo")``, a lazy registry's "app.demo:f")."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value.partition(":")[0])
    return found


def _imports_the_demo(path: Path) -> bool:
    modules = _imported_modules(ast.parse(path.read_text(), filename=str(path)))
    return any(m == "app.demo" or m.startswith("app.demo.") for m in modules)


def test_only_the_demo_and_its_command_import_the_demo() -> None:
    files = sorted((PROJECT / "app").rglob("*.py")) + sorted((PROJECT / "workers").rglob("*.py"))
    assert len(files) > 50
    offenders = {
        path.relative_to(PROJECT).as_posix() for path in files if _imports_the_demo(path)
    } - ALLOWED
    assert offenders == set()


def test_the_check_sees_every_way_of_importing_the_demo() -> None:
    for source in (
        "import app.demo",
        "from app import demo",
        "from app.demo import DEMO_DATASET",
        "def f():\n    from app import demo as setup\n",
        "importlib.import_module('app.demo')",
    ):
        assert _imported_modules(ast.parse(source)) & {"app.demo"}, source
    assert not _imported_modules(ast.parse("from app import demo_site")) & {"app.demo"}
