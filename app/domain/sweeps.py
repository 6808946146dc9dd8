"""Sweeps: one request that queues one run per value of a codec parameter, so that a
rate-distortion curve needs no runs queued by hand.

The values are written the same way on the command line (``--param quality=5,10,20,40``),
in the web form and in the API: a comma-separated list, each value read as JSON where it
parses (numbers, booleans, quoted strings) and as a plain string otherwise, or the word
``ladder`` for the codec's own rate ladder (``registry.sweep_ladder``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

LADDER: Literal["ladder"] = "ladder"
MAX_VALUES = 24
"""More runs than a curve needs, and few enough that a typo cannot queue thousands."""
PARAM_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")

SweepValues = list[Any] | Literal["ladder"]


def read_value(text: str) -> Any:
    """One value as the CLI reads ``--param`` values: JSON where it parses, else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def is_sweep(text: str) -> bool:
    """Whether a ``--param`` value lists several values or asks for the ladder, rather than
    being one value (a JSON list or a quoted string holding a comma stays one value)."""
    stripped = text.strip()
    if stripped == LADDER:
        return True
    try:
        json.loads(stripped)
    except json.JSONDecodeError:
        return "," in stripped
    return False


def parse_values(text: str) -> SweepValues:
    """``"5, 10, 20"`` -> ``[5, 10, 20]``; ``"ladder"`` -> ``"ladder"``. Refuses an empty
    list, an empty item and more than ``MAX_VALUES`` values."""
    stripped = text.strip()
    if stripped == LADDER:
        return LADDER
    if not stripped:
        raise ValueError("list the values to sweep, separated by commas, or write 'ladder'")
    items = [item.strip() for item in stripped.split(",")]
    if any(not item for item in items):
        raise ValueError(f"{text!r}: an empty value between commas")
    return check_values([read_value(item) for item in items])


def check_values(values: list[Any]) -> list[Any]:
    if not values:
        raise ValueError("list at least one value to sweep")
    if len(values) > MAX_VALUES:
        raise ValueError(f"a sweep has at most {MAX_VALUES} values; {len(values)} were given")
    for value in values:
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError(f"{json.dumps(value)}: a swept value is a number or a string")
    return values


def check_param(name: str) -> str:
    if not PARAM_NAME.match(name):
        raise ValueError(f"{name!r} is not a parameter name: lower-case letters, digits and '_'")
    return name


def values_text(values: list[Any]) -> str:
    """How a sweep's values are shown: ``5, 10, 20``."""
    return ", ".join(v if isinstance(v, str) else json.dumps(v) for v in values)
