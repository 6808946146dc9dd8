"""Pydantic's validation errors in plain words, one format for pages, the API, the CLI and the
codec registry: ``field.sub: message; other: message``.

Pure (no FastAPI): the CLI and the domain's registries use it as the web layer does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REQUEST_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
"""Where FastAPI says a request's value came from, first in each location it reports."""


def validation_message(
    errors: Iterable[Mapping[str, Any]], *, request: bool = False, within: str | None = None
) -> str:
    """Every error as "where: what", joined by "; " ("what" alone for an error of the whole
    input). ``request``: the errors of a request (FastAPI's ``RequestValidationError``), whose
    source ("body", "query", ...) tells a person nothing and is left out. ``within``: a name
    put before every location (the entry of a file the errors are about). Pydantic's
    "Value error, " before a validator's own message is left out too."""
    parts = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        if request and location and location[0] in REQUEST_SOURCES:
            location = location[1:]
        if within is not None:
            location.insert(0, within)
        where = ".".join(location)
        what = str(error.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {what}" if where else what)
    return "; ".join(parts)
