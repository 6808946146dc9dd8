"""Names refuse control and bidirectional-override characters; download file names survive
any name (RFC 6266 / 5987), read back by the standard library's own header parser."""

from __future__ import annotations

import re
from email.message import Message

import pytest

from app.domain.names import ascii_filename, check_name, content_disposition


@pytest.mark.parametrize(
    "name",
    [
        "photos",
        "Kodak 24",
        "写真データセット",
        "Café crème",
        "a/b (v2)",
        "שלום",
        "مرحبا",
        "x" * 200,
    ],
)
def test_ordinary_names_in_any_script_are_accepted_unchanged(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("nul\x00byte", "U+0000"),
        ("line\nbreak", "U+000A"),
        ("carriage\rreturn", "U+000D"),
        ("tab\there", "U+0009"),
        ("escape\x1b[31m", "U+001B"),
        ("delete\x7f", "U+007F"),
        ("c1\x85control", "U+0085"),
        ("invoice\u202egnp.exe", "U+202E"),
        ("left\u202doverride", "U+202D"),
        ("embed\u202aing", "U+202A"),
        ("pop\u202c", "U+202C"),
        ("isolate\u2066x\u2069", "U+2066"),
        ("first\u2068strong", "U+2068"),
        ("mark\u200fhere", "U+200F"),
        ("mark\u200ehere", "U+200E"),
        ("arabic\u061cmark", "U+061C"),
    ],
)
def test_control_and_bidi_characters_are_refused_by_code_point(name: str, code: str) -> None:
    with pytest.raises(ValueError, match=re.escape(code)):
        check_name(name)


def _parsed(header: str) -> Message:
    message = Message()
    message["Content-Disposition"] = header
    return message


@pytest.mark.parametrize(
    ("filename", "shown", "fallback"),
    [
        ("rd-photos.svg", "rd-photos.svg", "rd-photos.svg"),
        ("写真-prevalence.png", "写真-prevalence.png", "__-prevalence.png"),
        ("写真.pdf", "写真.pdf", "download.pdf"),
        ("Café-agreement.svg", "Café-agreement.svg", "Cafe-agreement.svg"),
        ('say "hi"\\there.png', 'say "hi"_there.png', "say _hi__there.png"),
        ("evil\r\nSet-Cookie: x=1.png", "evil__Set-Cookie: x=1.png", "evil__Set-Cookie: x=1.png"),
        ("invoice\u202egnp.exe", "invoice_gnp.exe", "invoice_gnp.exe"),
        ("../../etc/passwd", "_.._etc_passwd", "_.._etc_passwd"),
        ("", "download", "download"),
    ],
)
def test_content_disposition_carries_the_exact_name_and_an_ascii_fallback(
    filename: str, shown: str, fallback: str
) -> None:
    header = content_disposition(filename, "attachment")
    assert header.isascii() and "\r" not in header and "\n" not in header
    header.encode("latin-1")  # what Starlette needs of every header value
    disposition, plain, extended = header.split("; ")
    assert disposition == "attachment"
    # Each parameter as a client that reads only that one sees it (RFC 2231/5987 decoding by
    # the standard library).
    assert _parsed(f"attachment; {extended}").get_filename() == shown
    assert _parsed(f"attachment; {plain}").get_filename() == fallback
    assert ascii_filename(shown) == fallback


def test_inline_figures_keep_their_disposition() -> None:
    assert content_disposition("a.png", "inline").startswith("inline; ")
