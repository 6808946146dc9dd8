"""Dependencies point one way: ``workers`` runs ``app``, never the reverse; the domain knows
no feature; each feature's Celery tasks are named in its own ``task_names`` module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from app.broker import ALL_TASKS, make_celery
from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def imports_of(package: str) -> Iterator[tuple[str, str]]:
    """(module file relative to the repository, imported module) for every import, at any
    depth (a deferred import inside a function counts too), of every module in ``package``."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        relative = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield relative, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                yield relative, node.module


def test_app_never_imports_workers() -> None:
    """The one exception is the command that starts a worker."""
    offenders = [
        (module, imported)
        for module, imported in imports_of("app")
        if imported.split(".")[0] == "workers" and module != "app/cli/server.py"
    ]
    assert offenders == []


def test_the_domain_imports_no_feature() -> None:
    features = {"app.audit", "app.auth", "app.codec_runs", "app.datasets", "app.studies"}
    features |= {"app.users", "app.cli", "app.db", "app.web", "app.jobs", "app.broker"}
    offenders = [
        (module, imported)
        for module, imported in imports_of("app/domain")
        if any(imported == f or imported.startswith(f + ".") for f in features)
    ]
    assert offenders == []


def test_task_names_are_declared_once_and_routed() -> None:
    """Every task a worker registers is one a feature declared, routed to its queue; no
    module spells a task name but its feature's ``task_names``."""
    from workers.celery_app import celery_app

    celery_app.loader.import_default_modules()  # what a worker does at start
    registered = {name for name in celery_app.tasks if name.startswith("workers.")}
    declared = {task.name for task in ALL_TASKS}
    assert registered == declared
    routes = make_celery(Settings(secret_key="x")).conf.task_routes
    assert routes == {task.name: {"queue": task.queue} for task in ALL_TASKS}
    spelled = [
        str(path.relative_to(ROOT))
        for package in ("app", "workers")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "task_names.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in declared
    ]
    assert spelled == []


def test_the_web_process_loads_no_heavy_library() -> None:
    """The web application, with every route and the export formats it lists, starts without
    pyarrow, torch or the test-only readers: export writers and learned codecs are loaded by
    import path where they run (workers, CLI); boto3 only where media are in S3
    (``storage.media_storage``); every proposal method is listed, the detector's too, without
    its model. A fresh interpreter, so that nothing another test imported
    counts."""
    heavy = ["pyarrow", "torch", "pandas", "pycocotools", "datasets", "compressai", "boto3"]
    script = (
        "import json, sys\n"
        "from app.config import Settings\n"
        "from app.domain.exports import formats\n"
        "from app.main import create_app\n"
        "from app.studies.methods import registry\n"
        "create_app(Settings(secret_key='x'), sessionmaker=None)\n"
        "assert formats.names() and 'detector' in registry.names()\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == []


LONG_MODULE_LINES = 450
LONG_MODULE_REASON = "Why one long module:"


def test_a_long_module_says_why_it_is_one() -> None:
    """A module over ~450 lines is usually two; one that must stay whole says why in its
    docstring, under this heading."""
    unexplained = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > LONG_MODULE_LINES:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            if LONG_MODULE_REASON not in docstring:
                unexplained.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert unexplained == []
