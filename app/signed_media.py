"""Image links signed for one browser session, served without the database.

A workspace shows four or more images per item. Checking each request against the database
(whose session, whose lease) cost more than everything else in an annotator's cycle, so the
page that names an image is where the right to it is checked, once: it names the image by a
link that carries, encrypted and authenticated (AES-SIV), the file's storage key, the end of
its validity and a digest of the browser session it was made for. Serving the link needs
only the session cookie and the secret key.

Blinding holds: the storage key is encrypted (it is content-addressed, so it tells nothing
about the codec, but it is a file name and stays hidden), every plaintext is padded to the
same length, so the links of one item's panes have the same length, and a link is
deterministic (the same image, session and validity window give the same link) so that the
images the page fetches ahead of time are those it shows later. A link made for one session
opens nothing in another, and an altered one opens nothing at all.

What it gives up: the right to an image is checked when the page is made, not when the image
is fetched. A link keeps opening for its session cookie until it expires (four to eight hours),
even if the session is ended meanwhile (logging out clears the cookie in the browser; a copy
of the cookie kept elsewhere would still open the links made for it) or the rater loses the
study (members-only). The images under tokens (``/media/assets/``) are checked each time.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import struct
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

VALID_S = 4 * 3600
"""A link is valid for four to eight hours: until the end of the four-hour window after the
one it was made in, so that a page left open through a working session still loads its
wider context when the rater zooms out. Two pages made within one window name an image by
the same link, so the browser's cache serves what it fetched ahead."""
SESSION_DIGEST_BYTES = 12
KEY_BLOCK = 128
"""Storage keys are padded to a multiple of this many bytes before encryption."""
_HEADER = struct.Struct(">I12s")
"""The end of validity (seconds since the epoch) and the session's digest."""


@functools.lru_cache(maxsize=4)
def _cipher(secret_key: str) -> AESSIV:
    """Made once per secret: a page signs a dozen links, and every image opens one."""
    # A key of its own, derived from the application's secret: the session cookie's
    # signature and these links never share a key.
    key = hmac.new(secret_key.encode(), b"miscomp signed media links", hashlib.sha512).digest()
    return AESSIV(key)


def _session_digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()[:SESSION_DIGEST_BYTES]


def valid_until(now: float) -> int:
    """The end of validity of a link made at ``now``: the end of the next whole window."""
    return (int(now) // VALID_S + 2) * VALID_S


def sign(secret_key: str, storage_key: str, session_id: str, *, now: float | None = None) -> str:
    """The link's opaque part (URL-safe text) for ``storage_key``, for ``session_id`` only."""
    expires = valid_until(time.time() if now is None else now)
    key = storage_key.encode()
    if b"\0" in key:
        raise ValueError("a storage key never holds a NUL byte")
    padded = key + b"\0" * (-len(key) % KEY_BLOCK)
    plaintext = _HEADER.pack(expires, _session_digest(session_id)) + padded
    sealed = _cipher(secret_key).encrypt(plaintext, None)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def open_link(
    secret_key: str, link: str, session_id: str | None, *, now: float | None = None
) -> str | None:
    """The storage key a link names, if it was made with this secret for ``session_id`` and
    has not expired; None otherwise (altered, foreign, expired or not a link at all)."""
    if session_id is None or len(link) > 4 * KEY_BLOCK:
        return None
    try:
        sealed = base64.urlsafe_b64decode(link + "=" * (-len(link) % 4))
        plaintext = _cipher(secret_key).decrypt(sealed, None)
    except (ValueError, binascii.Error, InvalidTag):
        return None
    if len(plaintext) < _HEADER.size:
        return None
    expires, digest = _HEADER.unpack_from(plaintext)
    if not hmac.compare_digest(digest, _session_digest(session_id)):
        return None
    if (time.time() if now is None else now) >= expires:
        return None
    return plaintext[_HEADER.size :].rstrip(b"\0").decode()
