from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import ColumnElement, Select, String, bindparam, func, select, update
from sqlalchemy.orm import Session

from app.auth import security
from app.db import utcnow
from app.domain.roles import Role, TokenScope
from app.domain.throttle import LoginLimits, RecentFailures, login_retry_after_s
from app.errors import Conflict, InvalidInput, NotFound
from app.users.models import ApiToken, LoginAttempt, User, UserSession
from app.users.schemas import UserCreate, UserUpdate

THROTTLE_WINDOW = timedelta(minutes=15)


def create_user(session: Session, data: UserCreate) -> User:
    if session.scalar(select(User.id).where(func.lower(User.username) == data.username.lower())):
        raise Conflict(f"user {data.username!r} already exists")
    user = User(
        username=data.username,
        role=data.role,
        password_hash=security.hash_password(data.password),
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def create_login_less_user(session: Session, username: str, role: Role) -> User:
    """An account that labels or decides on the record (a simulated rater, an imported
    one) but that nobody can log in as: inactive, with a random password nobody knows."""
    user = create_user(
        session, UserCreate(username=username, role=role, password=secrets.token_urlsafe(24))
    )
    user.is_active = False
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def find_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def update_user(session: Session, user_id: int, data: UserUpdate, *, actor: User) -> User:
    user = get_user(session, user_id)
    if user.id == actor.id and (
        (data.role is not None and data.role != Role.ADMIN) or data.is_active is False
    ):
        raise Conflict("you cannot demote or deactivate your own account")
    if data.role is not None:
        user.role = data.role
    ends_credentials = data.password is not None or (data.is_active is False and user.is_active)
    if data.is_active is not None:
        user.is_active = data.is_active
    if data.password is not None:
        user.password_hash = security.hash_password(data.password)
    session.flush()
    if ends_credentials:
        revoke_credentials(session, user.id)
    return user


def reset_password(session: Session, user_id: int, password: str | None, *, actor: User) -> str:
    """An admin sets another user's password, or has one made (``password`` None), and gets
    it back to hand on: shown once, stored only as its hash. Every session and API token of
    the user ends (``revoke_credentials``); the audit log records the change (hash redacted)
    and the revocations. An admin's own password is changed by :func:`change_own_password`,
    which asks for the current one."""
    if user_id == actor.id:
        raise Conflict("change your own password on the Password page: it asks for the current one")
    chosen = password if password is not None else security.new_password()
    update_user(session, user_id, UserUpdate(password=chosen), actor=actor)
    return chosen


def change_own_password(session: Session, user: User, current: str, new: str) -> str:
    """A user changes their own password, giving the current one. Every session and API
    token of theirs ends, as with any password change; returns the secret of a new session
    for the browser that asked, which stays logged in."""
    if not security.verify_password(user.password_hash, current):
        raise InvalidInput("the current password is wrong")
    update_user(session, user.id, UserUpdate(password=new), actor=user)
    return start_session(session, user)


# Logins. The route commits between these steps, so that no database connection is held
# while argon2 checks a password (tens of milliseconds of CPU per attempt).


@dataclass(frozen=True)
class LoginGate:
    """Whether a login attempt may check its password, and what it needs to check it: plain
    values, so that nothing here depends on the session that found them."""

    retry_after_s: float
    """0: go ahead; otherwise refuse now and say when to retry."""
    attempt_id: int | None = None
    """The attempt, recorded as failed until :func:`complete_login` marks it succeeded."""
    user_id: int | None = None
    password_hash: str | None = None
    """None for an unknown or deactivated user: the password is checked against a dummy
    hash, so the answer's timing does not reveal which usernames exist."""


def _recent_failures(session: Session, key: ColumnElement[bool], since: datetime) -> RecentFailures:
    count, newest, oldest = session.execute(
        select(
            func.count(), func.max(LoginAttempt.created_at), func.min(LoginAttempt.created_at)
        ).where(key, LoginAttempt.succeeded.is_(False), LoginAttempt.created_at >= since)
    ).one()
    return RecentFailures(count=count or 0, newest_at=_as_utc(newest), oldest_at=_as_utc(oldest))


def _as_utc(value: datetime | None) -> datetime | None:
    """Aggregates bypass UTCDateTime, and SQLite returns them naive (or as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def begin_login(
    session: Session, username: str, client_ip: str, *, limits: LoginLimits
) -> LoginGate:
    """Checks the failure limits (``app/domain/throttle.py``) and, if the attempt may go on,
    records it as a failure before the password is checked: concurrent guesses then see it
    and are refused, rather than all checking their passwords at once. Flushes."""
    now = utcnow()
    account_key = username.lower()[:64]
    window_start = now - limits.window
    # A success ends the account's run of failures; an address's count is not reset, or a
    # guesser could clear it by logging into an account of their own.
    last_success = session.scalar(
        select(func.max(LoginAttempt.created_at)).where(
            LoginAttempt.username == account_key, LoginAttempt.succeeded.is_(True)
        )
    )
    account_since = max(window_start, _as_utc(last_success) or window_start)
    account = _recent_failures(session, LoginAttempt.username == account_key, account_since)
    address = _recent_failures(session, LoginAttempt.client_ip == client_ip[:64], window_start)
    wait = login_retry_after_s(account, address, now=now, limits=limits)
    if wait > 0:
        return LoginGate(retry_after_s=wait)
    attempt = LoginAttempt(username=account_key, client_ip=client_ip[:64], succeeded=False)
    session.add(attempt)
    session.flush()
    user = find_user_by_username(session, username)
    if user is None or not user.is_active:
        return LoginGate(retry_after_s=0.0, attempt_id=attempt.id)
    return LoginGate(
        retry_after_s=0.0,
        attempt_id=attempt.id,
        user_id=user.id,
        password_hash=user.password_hash,
    )


def password_matches(gate: LoginGate, password: str) -> bool:
    """The argon2 check; touches no database."""
    if gate.password_hash is None:
        security.verify_password(security.DUMMY_HASH, password)
        return False
    return security.verify_password(gate.password_hash, password)


def complete_login(session: Session, gate: LoginGate) -> tuple[User, str]:
    """After a correct password: marks the attempt succeeded and opens a server-side session;
    returns the user and the session's secret for the signed cookie. Flushes."""
    if gate.attempt_id is None or gate.user_id is None:
        raise ValueError("complete_login needs the gate of a known user's attempt")
    session.execute(
        update(LoginAttempt).where(LoginAttempt.id == gate.attempt_id).values(succeeded=True),
        execution_options={"synchronize_session": False},
    )
    user = get_user(session, gate.user_id)
    return user, start_session(session, user)


# Browser sessions, kept on the server so that they can be ended there.


def start_session(session: Session, user: User) -> str:
    secret = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user.id, token_hash=security.hash_token(secret)))
    session.flush()
    return secret


SESSION_SEEN_RESOLUTION = timedelta(minutes=1)
"""last_seen_at is written at most this often per session, not on every request."""


@cache
def _session_with_user() -> Select[UserSession, User]:
    """``user_for_session``'s statement, built once (building it cost more than running it)."""
    return (
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == bindparam("token_hash", type_=String))
    )


def user_for_session(session: Session, secret: str, *, max_age: timedelta) -> User | None:
    """The user of a live session: not revoked, younger than ``max_age``, user active."""
    # One statement with its user: every request of a logged-in browser begins here.
    found = session.execute(
        _session_with_user(), {"token_hash": security.hash_token(secret)}
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if row.revoked_at is not None or row.created_at < now - max_age or not user.is_active:
        return None
    if row.last_seen_at < now - SESSION_SEEN_RESOLUTION:
        session.execute(
            update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now),
            execution_options={"synchronize_session": False},
        )
    return user


def end_session(session: Session, secret: str) -> None:
    """Logout: the session's cookie, even a copy saved elsewhere, no longer works."""
    session.execute(
        update(UserSession)
        .where(
            UserSession.token_hash == security.hash_token(secret),
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


def revoke_credentials(session: Session, user_id: int) -> None:
    """Ends every session and every API token of the user (password change, deactivation):
    whoever learned the old password may have made a token with it."""
    now = utcnow()
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now),
        execution_options={"synchronize_session": False},
    )
    for token in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = now  # through the ORM: a token's revocation is audited
    session.flush()


def create_token(
    session: Session, user: User, name: str, scope: TokenScope = TokenScope.FULL
) -> tuple[ApiToken, str]:
    secret, prefix, digest = security.new_api_token()
    token = ApiToken(user_id=user.id, name=name, prefix=prefix, token_hash=digest, scope=scope)
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def token_holder(session: Session, secret: str) -> tuple[User, TokenScope] | None:
    """The live token's active owner and the token's scope; None for anything else."""
    token = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == security.hash_token(secret))
    )
    if token is None or token.revoked_at is not None:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    # Not audited as an update: last_used_at is bookkeeping, written without the ORM's listener.
    session.execute(
        update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return user, TokenScope(token.scope)
