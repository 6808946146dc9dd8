"""app/models.py imports every mapped class: Alembic's autogenerate and the audit listener
see only the tables imported there. Every mapped class is audited or says why not."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import app.models

APP = Path(app.models.__file__).resolve().parent
MAPPED_CLASS = re.compile(r"^class \w+\((?:[\w.]+, )*Base\b", re.MULTILINE)


def every_mapped_class() -> set[type]:
    """Every mapped class under app/, the modules that declare one imported first."""
    for path in sorted(APP.rglob("*.py")):
        if MAPPED_CLASS.search(path.read_text()):
            module = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
            importlib.import_module(module)
    return {mapper.class_ for mapper in app.models.Base.registry.mappers}


def test_every_mapped_class_is_imported_in_app_models() -> None:
    mapped = every_mapped_class()
    assert len(mapped) >= 19
    listed = {getattr(app.models, name) for name in app.models.__all__}
    missing = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in mapped - listed)
    assert not missing, f"add to app/models.py (import and __all__): {missing}"


def test_every_mapped_class_is_audited_or_says_why_not() -> None:
    """The audit rule (app/audit/listener.py): ``__audited__ = True``, or a reason in
    ``__audit_exempt__``; never both, never neither."""
    undecided, both = [], []
    for cls in sorted(every_mapped_class(), key=lambda c: c.__name__):
        audited = getattr(cls, "__audited__", False) is True
        reason = getattr(cls, "__audit_exempt__", None)
        exempt = isinstance(reason, str) and len(reason.split()) >= 3
        if audited and exempt:
            both.append(cls.__name__)
        elif not audited and not exempt:
            undecided.append(cls.__name__)
    assert not undecided, f"set __audited__ = True or __audit_exempt__ = 'why' on {undecided}"
    assert not both, f"audited and exempt at once: {both}"
