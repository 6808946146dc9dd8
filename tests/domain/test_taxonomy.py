"""A new taxonomy version's categories are judged as a whole, every problem said in plain words;
a study's instructions start from a version's definitions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.domain import taxonomy

DEFAULTS = taxonomy.DEFAULT_CATEGORIES
TEXTURE = {
    "key": "texture",
    "label": "TEXTURE",
    "kind": "category",
    "shortcut": "4",
    "description": "Texture replaced by a plausible but different one.",
}


def _with(**changes: Any) -> list[dict[str, Any]]:
    return [*DEFAULTS, {**TEXTURE, **changes}]


def test_the_defaults_and_one_more_category_pass_trimmed() -> None:
    result = taxonomy.validated_categories(
        _with(label="  TEXTURE ", description=" d "), previous=DEFAULTS
    )
    assert result[:4] == DEFAULTS
    assert result[4] == {**TEXTURE, "description": "d"}


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        (_with(key="amplitude"), "row 5 (TEXTURE): category 'amplitude' exists already (row 1)"),
        (_with(key=""), "row 5 (TEXTURE): the key is empty"),
        (_with(key="Texture!"), "key 'Texture!' must be 2-40 lower-case letters"),
        (_with(label=" "), "row 5: the name is empty"),
        (_with(label="shape"), "row 5 (shape): the name 'shape' is taken by row 3"),
        (_with(description=""), "row 5 (TEXTURE): the definition is empty"),
        (_with(kind="colour"), "the kind must be category or modifier"),
        (_with(shortcut="1"), "row 5 (TEXTURE): shortcut '1' is taken by AMPLITUDE"),
        (_with(shortcut="ab"), "the shortcut must be one letter or digit"),
        (_with(shortcut="m"), "shortcut 'm' is a key of the annotation workspace"),
        (_with(shortcut="0"), "shortcut '0' is a key of the annotation workspace"),
        (_with(example="../../etc/passwd"), "the example image is not one stored here"),
        ([{**TEXTURE, "kind": "modifier"}], "needs at least one category (not only modifiers)"),
        ([], "the taxonomy needs at least one category"),
    ],
)
def test_each_problem_is_named_with_its_row(entries: list[dict[str, Any]], said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        taxonomy.validated_categories(entries, previous=DEFAULTS)


def test_every_problem_is_reported_at_once_by_the_form_rows() -> None:
    entries = [*DEFAULTS, {**TEXTURE, "label": ""}, {**TEXTURE, "key": "noise", "shortcut": "1"}]
    with pytest.raises(ValueError, match="row 6") as refused:
        taxonomy.validated_categories(entries, previous=DEFAULTS, rows=[1, 2, 3, 4, 6, 7])
    message = str(refused.value)
    assert "row 6: the name is empty" in message
    assert "row 7 (TEXTURE): shortcut '1' is taken by AMPLITUDE" in message


def test_a_category_keeps_a_shortcut_the_workspace_reserved_later() -> None:
    old = [{**TEXTURE, "shortcut": "f"}]  # made before the viewer took f
    assert taxonomy.validated_categories(old, previous=old) == old
    with pytest.raises(ValueError, match="shortcut 'f' is a key of the annotation workspace"):
        taxonomy.validated_categories([{**TEXTURE, "key": "other", "shortcut": "f"}], previous=old)


def test_with_category_refuses_clashes_as_before() -> None:
    with pytest.raises(ValueError, match="shortcut '3' is taken"):
        taxonomy.with_category(DEFAULTS, **{**TEXTURE, "shortcut": "3"})
    with pytest.raises(ValueError, match="exists already"):
        taxonomy.with_category(DEFAULTS, **{**TEXTURE, "key": "shape"})


def test_instructions_start_from_the_definitions() -> None:
    text = taxonomy.instructions_for(_with(), taxonomy.VERDICTS)
    assert text.startswith(
        "Answer every crop: **Miscompression** (`m`), **No miscompression** (`n`) or "
        "**Unsure** (`u`).\n"
    )
    assert f"- **TEXTURE** (`4`): {TEXTURE['description']}" in text
    categories, modifiers = text.split("Tick a modifier when it applies:")
    assert "**AMPLITUDE**" in categories and "**SYMBOL**" in modifiers
