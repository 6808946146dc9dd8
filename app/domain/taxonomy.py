"""The labelling taxonomy as data: the paper's three types plus the SYMBOL modifier by default.

Verdicts are explicit answers ("no miscompression" is an answer, distinct from skipping an
item). Categories carry a keyboard shortcut; admins add categories (the paper names TEXTURE
as a possible extension) by making a new version, without a code change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
EXAMPLE_DIGEST = re.compile(r"[0-9a-f]{64}")
"""A category's optional ``example``: the sha256 of the pixels of a stored example crop."""


MAX_CATEGORIES = 40
MAX_LABEL_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 5000
KINDS = ("category", "modifier")
CATEGORY_SHORTCUT_DIGITS = frozenset("123456789")
"""Digits the workspace reserves for its panes but lends to categories (1, 2, 3 are the
paper's): a category may take one no other category has."""


def _row_name(position: int, entry: Mapping[str, Any]) -> str:
    label = str(entry.get("label") or "").strip()
    return f"row {position} ({label})" if label else f"row {position}"


def validated_categories(
    entries: Sequence[Mapping[str, Any]],
    *,
    previous: Sequence[Mapping[str, Any]] = (),
    rows: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """The categories of a new version, trimmed, as a version stores them; ValueError naming
    every problem in plain words ("row 5 (TEXTURE): ...", rows counted from 1) otherwise.

    ``previous``: the version the new one is made from. A category that keeps its key keeps
    a shortcut the workspace has reserved since (see ``RESERVED_SHORTCUTS``). ``rows``: the
    row of a form each entry was typed in, when some rows of the form were left out."""
    problems: list[str] = []
    kept_shortcuts = {(str(c.get("key")), str(c.get("shortcut"))) for c in previous if c.get("key")}
    result: list[dict[str, Any]] = []
    keys: dict[str, int] = {}
    labels: dict[str, int] = {}
    shortcuts: dict[str, tuple[int, str]] = {}
    if len(entries) > MAX_CATEGORIES:
        problems.append(f"a taxonomy has at most {MAX_CATEGORIES} categories and modifiers")
    numbers = list(rows) if rows is not None else list(range(1, len(entries) + 1))
    for position, entry in zip(numbers, entries, strict=True):
        where = _row_name(position, entry)
        key = str(entry.get("key") or "").strip()
        label = str(entry.get("label") or "").strip()
        kind = str(entry.get("kind") or "")
        shortcut = str(entry.get("shortcut") or "").strip()
        description = str(entry.get("description") or "").strip()
        if not key:
            problems.append(f"{where}: the key is empty")
        elif not _KEY.match(key):
            problems.append(
                f"{where}: key {key!r} must be 2-40 lower-case letters, digits or _, "
                "starting with a letter"
            )
        elif key in keys:
            problems.append(f"{where}: category {key!r} exists already (row {keys[key]})")
        else:
            keys[key] = position
        if not label:
            problems.append(f"{where}: the name is empty")
        elif len(label) > MAX_LABEL_LENGTH:
            problems.append(f"{where}: the name is longer than {MAX_LABEL_LENGTH} characters")
        elif label.casefold() in labels:
            problems.append(
                f"{where}: the name {label!r} is taken by row {labels[label.casefold()]}"
            )
        else:
            labels[label.casefold()] = position
        if kind not in KINDS:
            problems.append(f"{where}: the kind must be category or modifier")
        if not description:
            problems.append(f"{where}: the definition is empty")
        elif len(description) > MAX_DESCRIPTION_LENGTH:
            problems.append(
                f"{where}: the definition is longer than {MAX_DESCRIPTION_LENGTH} characters"
            )
        if len(shortcut) != 1 or not shortcut.isalnum() or not shortcut.isascii():
            problems.append(f"{where}: the shortcut must be one letter or digit")
        elif shortcut in shortcuts:
            first, first_label = shortcuts[shortcut]
            problems.append(
                f"{where}: shortcut {shortcut!r} is taken by {first_label or f'row {first}'}"
            )
        elif (
            shortcut in RESERVED_SHORTCUTS
            and shortcut not in CATEGORY_SHORTCUT_DIGITS
            and (key, shortcut) not in kept_shortcuts
        ):
            problems.append(
                f"{where}: shortcut {shortcut!r} is a key of the annotation workspace "
                "(verdicts, viewer, panes); choose another"
            )
        else:
            shortcuts[shortcut] = (position, label)
        stored: dict[str, Any] = {
            "key": key,
            "label": label,
            "kind": kind,
            "shortcut": shortcut,
            "description": description,
        }
        example = entry.get("example")
        if example:
            if not isinstance(example, str) or not EXAMPLE_DIGEST.fullmatch(example):
                problems.append(f"{where}: the example image is not one stored here")
            stored["example"] = example
        result.append(stored)
    if entries and not problems and not any(c["kind"] == "category" for c in result):
        problems.append("the taxonomy needs at least one category (not only modifiers)")
    if not entries:
        problems.append("the taxonomy needs at least one category")
    if problems:
        raise ValueError("; ".join(problems))
    return result


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
    entry = {
        "key": key,
        "label": label,
        "kind": kind,
        "shortcut": shortcut,
        "description": description,
    }
    return validated_categories([*categories, entry], previous=categories)


def instructions_for(
    categories: Sequence[Mapping[str, Any]], verdicts: Sequence[Mapping[str, Any]]
) -> str:
    """Instructions for annotators (Markdown) written from a version's definitions: what a
    study's instructions start from, for its makers to edit."""
    answers = [f"**{v['label']}** (`{v['shortcut']}`)" for v in verdicts]
    lines = []
    if answers:
        listed = ", ".join(answers[:-1]) + (" or " if len(answers) > 1 else "") + answers[-1]
        lines += [f"Answer every crop: {listed}.", ""]
    for kind, heading in (
        ("category", "For a miscompression, tick each category that applies:"),
        ("modifier", "Tick a modifier when it applies:"),
    ):
        entries = [c for c in categories if c.get("kind") == kind]
        if not entries:
            continue
        lines.append(heading)
        lines.append("")
        lines += [f"- **{c['label']}** (`{c['shortcut']}`): {c['description']}" for c in entries]
        lines.append("")
    return "\n".join(lines).strip() + "\n"
