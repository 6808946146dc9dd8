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
        what = plain_words(error)
        parts.append(f"{where}: {what}" if where else what)
    return "; ".join(parts)


def _number(value: Any) -> str:
    """A bound as a person writes it: 2,147,483,647; 0 rather than 0.0; 0.5."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _count(n: Any, thing: str) -> str:
    return f"{_number(n)} {thing}" + ("" if n == 1 else "s")


_PLAIN: dict[str, Any] = {
    "missing": lambda c: "is required",
    "extra_forbidden": lambda c: "is not one of the accepted fields",
    "int_parsing": lambda c: "must be a whole number",
    "int_type": lambda c: "must be a whole number",
    "int_from_float": lambda c: "must be a whole number",
    "float_parsing": lambda c: "must be a number",
    "float_type": lambda c: "must be a number",
    "finite_number": lambda c: "must be a finite number",
    "bool_parsing": lambda c: "must be yes or no (true or false)",
    "bool_type": lambda c: "must be yes or no (true or false)",
    "string_type": lambda c: "must be text",
    "list_type": lambda c: "must be a list",
    "dict_type": lambda c: "must be a JSON object of names and values",
    "model_type": lambda c: "must be a JSON object of names and values",
    "greater_than": lambda c: f"must be more than {_number(c['gt'])}",
    "greater_than_equal": lambda c: f"must be at least {_number(c['ge'])}",
    "less_than": lambda c: f"must be less than {_number(c['lt'])}",
    "less_than_equal": lambda c: f"must be at most {_number(c['le'])}",
    "string_too_short": lambda c: (
        "must not be empty"
        if c["min_length"] == 1
        else f"must be at least {_count(c['min_length'], 'character')} long"
    ),
    "string_too_long": lambda c: f"must be at most {_count(c['max_length'], 'character')} long",
    "string_pattern_mismatch": lambda c: "is not in the accepted form",
    "too_short": lambda c: (
        "choose at least one"
        if c["min_length"] == 1
        else f"needs at least {_count(c['min_length'], 'entry')}"
    ),
    "too_long": lambda c: f"takes at most {_count(c['max_length'], 'entry')}",
}
"""Pydantic's error types in plain words, by the type's context (``ctx``)."""


def plain_words(error: Mapping[str, Any]) -> str:
    """One error's message as a person reads it: pydantic's common errors in plain words (no
    "Input should be", no "after validation"), a validator's own message as it wrote it."""
    message = str(error.get("msg", ""))
    if message.startswith("Value error, "):
        return message.removeprefix("Value error, ")
    describe = _PLAIN.get(str(error.get("type", "")))
    if describe is not None:
        try:
            return str(describe(error.get("ctx") or {}))
        except KeyError:  # a context without the figure the words need
            pass
    return message.replace("Input should be", "must be")
