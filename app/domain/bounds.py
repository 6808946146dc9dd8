"""Bounds on the numbers and the JSON that people send.

Every integer and float that a route, a form or a schema accepts is one of the types below,
and every JSON text a user gives is read by :func:`parse_json`. An id of 2**64, a seed past
the database's INTEGER, a NaN share or a document nested 10,000 levels deep is then refused
with a message that names the field (pydantic's 422, or the form shown again with it),
instead of reaching the database, the recursion limit or a worker.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Annotated, Any

from annotated_types import Interval
from pydantic import AllowInfNan, TypeAdapter

INT32_MAX = 2**31 - 1
"""The largest PostgreSQL INTEGER: the type of every id, seed and counter column."""

DbId = Annotated[int, Interval(ge=1, le=INT32_MAX)]
"""A row id, in a path, a query, a form or a JSON body."""
DB_ID: TypeAdapter[int] = TypeAdapter(DbId)
"""Checks a row id that a route reads by hand (a form parsed with ``request.form()``)."""
Seed = Annotated[int, Interval(ge=0, le=INT32_MAX)]
"""A random seed: stored as INTEGER, and NumPy's generators take no negative seed."""
SEED: TypeAdapter[int] = TypeAdapter(Seed)
Page = Annotated[int, Interval(ge=1, le=INT32_MAX)]
"""A 1-based page number; a page past the end shows the last one (``app.paging``)."""
Offset = Annotated[int, Interval(ge=0, le=INT32_MAX)]
"""How many rows to skip."""
Count = Annotated[int, Interval(ge=1, le=INT32_MAX)]
"""A positive number of things (items, raters, a cap), at most what a column holds."""
FiniteFloat = Annotated[float, AllowInfNan(False)]
"""Any real number: infinities and NaN are refused (NaN compares false with every bound)."""
Share = Annotated[float, AllowInfNan(False), Interval(ge=0, le=1)]
"""A proportion or a threshold, 0 to 1."""

MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (the platform's own documents
are at most a few levels deep; Python's parser fails near 1,000)."""
MAX_JSON_BYTES = 1_000_000
"""The largest JSON document a user may give, as text or as a request body."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]")


class JsonRefused(ValueError):
    """The JSON a user gave cannot be used; the message names the field and says why, and
    ``loc`` is the path inside the JSON where that is known (keys and indices)."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


def _path_to_nul(value: Any) -> tuple[str | int, ...] | None:
    """Where in a parsed JSON value a key or string holds NUL, or None; walked with a stack
    (the depth is bounded before, but recursion is not needed)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str) and "\0" in node:
            return path
        if isinstance(node, dict):
            for key, child in node.items():
                if "\0" in key:
                    return (*path, key.replace("\0", ""))
                stack.append(((*path, key), child))
        elif isinstance(node, list):
            stack.extend(((*path, index), child) for index, child in enumerate(node))
    return None


def json_depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest, counted without parsing it (so without
    recursion, whatever the depth): brackets inside strings do not count."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)


def _no_constants(name: str) -> Any:
    raise JsonRefused(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e309
        raise JsonRefused(f"{text} is too large a number")
    return value


_JSON_ERRORS = {
    "Expecting value": "expected a value (a number, text in double quotes, true, false, "
    "null, a [list] or an {object})",
    "Expecting property name enclosed in double quotes": "expected a name in double quotes",
    "Expecting ',' delimiter": "expected a comma between two entries",
    "Expecting ':' delimiter": "expected a colon after a name",
    "Extra data": "more text after the end of the value",
    "Unterminated string starting at": "a double quote opens text that never closes",
    "Invalid control character at": "a line break or control character inside quoted text",
    "Invalid \\escape": "a backslash that starts no valid escape",
    "Invalid \\uXXXX escape": "a backslash-u escape without four hexadecimal digits",
}
"""The JSON parser's messages in plain words."""


def json_error_words(exc: json.JSONDecodeError) -> str:
    """Where the JSON breaks (line and column) and what was expected there, in plain words;
    the two most common slips, single quotes and a comma before a closing bracket, named."""
    what = _JSON_ERRORS.get(exc.msg, exc.msg[:1].lower() + exc.msg[1:])
    before = exc.doc[: exc.pos].rstrip()
    at = exc.doc[exc.pos : exc.pos + 1]
    if before.endswith(",") and at in ("}", "]"):
        what = "a comma before a closing bracket (JSON allows none after the last entry)"
    elif at == "'":
        what += " (JSON writes names and text in double quotes, not single ones)"
    return f"at line {exc.lineno}, column {exc.colno}: {what}"


def parse_json(
    text: str | bytes,
    *,
    field: str,
    max_bytes: int | None = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """The value of the JSON ``text`` that the user gave as ``field``, or JsonRefused with a
    message naming the field: not UTF-8, too large, nested too deeply, not JSON, or using
    NaN/Infinity (which JSON does not have and the database's JSON refuses) or numbers too
    large for a float. ``max_bytes=None`` is for files whose size is bounded elsewhere
    (uploads, by MISCOMP_MAX_UPLOAD_BYTES)."""
    if max_bytes is not None and len(text) > max_bytes:
        raise JsonRefused(f"{field}: larger than {max_bytes:,} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRefused(f"{field}: not UTF-8 text") from None
    if json_depth(text) > max_depth:
        raise JsonRefused(f"{field}: nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except JsonRefused as exc:
        raise JsonRefused(f"{field}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"{field}: not valid JSON {json_error_words(exc)}") from None
    except ValueError:  # an integer of over 4,300 digits
        raise JsonRefused(f"{field}: not valid JSON: a number with too many digits") from None
    nul = _path_to_nul(value)  # no text column (PostgreSQL) can hold a NUL character
    if nul is not None:
        where = ".".join(map(str, (field, *nul)))
        raise JsonRefused(f"{where}: must not contain the control character NUL (U+0000)", nul)
    return value
