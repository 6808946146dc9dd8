"""The labelling taxonomy as data: the paper's three types plus the SYMBOL modifier by default.

Verdicts are explicit answers ("no miscompression" is an answer, distinct from skipping an
item). Categories carry a keyboard shortcut; admins add categories (the paper names TEXTURE
as a possible extension) by making a new version, without a code change.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_NAME = "miscompression"

DEFAULT_CATEGORIES: list[dict[str, Any]] = [
    {
        "key": "amplitude",
        "label": "AMPLITUDE",
        "kind": "category",
        "shortcut": "1",
        "description": "Reconstructions differ in the amplitude of spatial frequencies: "
        "brightness, colour saturation, the intensity of high-frequency components. Lights, "
        "eye, hair and skin colours, birthmarks and tattoos are susceptible; attenuated objects "
        "may change colour or disappear (a brake light goes dark, a cross vanishes).",
    },
    {
        "key": "geometry",
        "label": "GEOMETRY",
        "kind": "category",
        "shortcut": "2",
        "description": "Geometric transformations: translation, rotation, scaling, shearing, "
        "locally shifted shapes, dissolved contours, imperfect 3D-to-2D representations "
        "(a flag's stripes shift, a hand's position changes).",
    },
    {
        "key": "shape",
        "label": "SHAPE",
        "kind": "category",
        "shortcut": "3",
        "description": "Changed contours: the shape of an object differs (an 8 becomes a 6, "
        "the arrow of a direction-specific traffic light changes).",
    },
    {
        "key": "symbol",
        "label": "SYMBOL",
        "kind": "modifier",
        "shortcut": "s",
        "description": "High impact: the affected object portrays a symbol, a sign with specific "
        "meaning to observers (letters, numerals, signs, gestures, religious jewellery, traffic "
        "signs and lights, watch hands, logos, tattoos, graffiti).",
    },
]

VERDICTS: list[dict[str, Any]] = [
    {"key": "miscompression", "label": "Miscompression", "shortcut": "m"},
    {"key": "no_miscompression", "label": "No miscompression", "shortcut": "n"},
    {"key": "unsure", "label": "Unsure", "shortcut": "u"},
]
RESERVED_SHORTCUTS = frozenset("mnu?fjkzxbcdeior+-0123456789ABCDEFGHZ") | {"Enter", "Escape"}
"""Keys of the annotation workspace (verdicts, viewer, the panes' "seen in" letters): a new
category may not take them. Versions made before a key was reserved keep their shortcut,
which wins over the viewer's in the browser."""
_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def with_category(
    categories: list[dict[str, Any]],
    *,
    key: str,
    label: str,
    description: str,
    shortcut: str,
    kind: str = "category",
) -> list[dict[str, Any]]:
    """The categories with one more; raises ValueError on a clash or a malformed entry."""
    if not _KEY.match(key):
        raise ValueError("key: 2-40 lower-case letters, digits or _, starting with a letter")
    if kind not in ("category", "modifier"):
        raise ValueError("kind: category or modifier")
    if not label.strip() or not description.strip():
        raise ValueError("label and description are required")
    taken_shortcuts = {c["shortcut"] for c in categories}
    digits_free = [str(d) for d in range(1, 10) if str(d) not in taken_shortcuts]
    if len(shortcut) != 1 or not shortcut.isalnum():
        raise ValueError("shortcut: one letter or digit")
    if any(c["key"] == key for c in categories):
        raise ValueError(f"category {key!r} exists already")
    if shortcut in taken_shortcuts or (
        shortcut in RESERVED_SHORTCUTS and shortcut not in digits_free
    ):
        raise ValueError(f"shortcut {shortcut!r} is taken")
    entry = {
        "key": key,
        "label": label.strip(),
        "kind": kind,
        "shortcut": shortcut,
        "description": description.strip(),
    }
    return [*categories, entry]
