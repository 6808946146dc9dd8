"""app/models.py imports every mapped class: Alembic's autogenerate and the audit listener
see only the tables imported there."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import app.models

APP = Path(app.models.__file__).resolve().parent
MAPPED_CLASS = re.compile(r"^class \w+\((?:[\w.]+, )*Base\b", re.MULTILINE)


def test_every_mapped_class_is_imported_in_app_models() -> None:
    # Import every module that declares a mapped class, wherever it lives under app/.
    for path in sorted(APP.rglob("*.py")):
        if MAPPED_CLASS.search(path.read_text()):
            module = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
            importlib.import_module(module)
    mapped = {mapper.class_ for mapper in app.models.Base.registry.mappers}
    assert len(mapped) >= 19
    listed = {getattr(app.models, name) for name in app.models.__all__}
    missing = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in mapped - listed)
    assert not missing, f"add to app/models.py (import and __all__): {missing}"
