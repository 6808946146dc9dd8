"""Names people give things (users, datasets, studies, tokens, taxonomy categories), and the
file names downloads are saved under.

A name is shown in pages, figure titles, the CLI and file names. Control characters (NUL, CR,
LF, escape sequences...) and the invisible characters that reorder text (bidirectional
overrides, embeddings, isolates and marks) let a name pose as another one ("invoice\\u202egnp.exe"
reads "invoiceexe.png") or break whatever prints or stores it, so they are refused wherever a
name comes in, by the one check below.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import AfterValidator

BIDI_CONTROLS = frozenset(
    "\u061c"  # ARABIC LETTER MARK
    "\u200e\u200f"  # LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings, pop, overrides (U+202E: the classic spoof)
    "\u2066\u2067\u2068\u2069"  # isolates
)
"""Characters that change the display order of the text around them (Unicode category Cf)."""


def forbidden_characters(value: str) -> list[str]:
    """The characters of ``value`` no name may contain, as ``U+XXXX`` strings, each once."""
    found: dict[str, None] = {}
    for char in value:
        if unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS:
            found[f"U+{ord(char):04X}"] = None
    return list(found)


def escaped(value: str) -> str:
    """``value`` with each character no name may contain written as ``<U+XXXX>``: safe to
    store and show, and still saying what was there."""
    return "".join(
        f"<{forbidden_characters(c)[0]}>" if forbidden_characters(c) else c for c in value
    )


def check_name(value: str) -> str:
    """``value`` unchanged if it may be a name; ValueError naming the offending characters
    otherwise (pydantic turns it into a 422 that names the field)."""
    bad = forbidden_characters(value)
    if bad:
        raise ValueError(
            f"must not contain control or bidirectional-override characters ({', '.join(bad)})"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
"""A ``str`` field that is a name: use it (with its own length bounds) in every schema."""


FALLBACK_STEM = "download"


def ascii_filename(filename: str) -> str:
    """An ASCII-only stand-in for ``filename``, for clients that do not read ``filename*``:
    accents dropped (é -> e), other non-ASCII characters, controls, quotes, backslashes and
    path separators replaced by ``_``; never empty, never a dot file."""
    decomposed = unicodedata.normalize("NFKD", filename)
    chars: list[str] = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if " " <= char <= "~" and char not in '"\\/;%':
            chars.append(char)
        else:
            chars.append("_")
    cleaned = "".join(chars).strip(" .")
    stem, dot, extension = cleaned.rpartition(".")
    if not stem.strip("_ ") and dot:
        cleaned = f"{FALLBACK_STEM}.{extension}"
    return cleaned or FALLBACK_STEM


def display_filename(filename: str) -> str:
    """``filename`` with the characters no name may contain, and path separators, replaced by
    ``_``: what the browser is asked to save the file as."""
    return (
        "".join(
            "_" if char in "/\\" or forbidden_characters(char) else char for char in filename
        ).strip(" .")
        or FALLBACK_STEM
    )


def content_disposition(filename: str, disposition: Literal["inline", "attachment"]) -> str:
    """A Content-Disposition header value that every client can read and that survives any
    name (RFC 6266): an ASCII ``filename=`` for old clients and the exact UTF-8 name as
    ``filename*=UTF-8''...`` (RFC 5987 percent-encoding) for the rest. The value is pure ASCII
    with no CR or LF, so it can neither break the response nor inject a header."""
    shown = display_filename(filename)
    fallback = ascii_filename(shown)
    encoded = quote(shown, safe="")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
