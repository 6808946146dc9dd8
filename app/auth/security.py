"""Password hashing (argon2), API token secrets, CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
TOKEN_PREFIX = "mc_"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A password an admin hands on once (a reset): 16 URL-safe characters, 96 random bits."""
    return secrets.token_urlsafe(12)


# Verified against when the user does not exist, so timing does not reveal valid usernames.
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def password_fingerprint(password_hash: str) -> str:
    """Kept in the session cookie: changing the password ends every existing session."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def new_api_token() -> tuple[str, str, str]:
    """Return (secret shown once, display prefix, sha256 stored)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, secret[:10], hash_token(secret)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
