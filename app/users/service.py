from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.auth import security
from app.db import utcnow
from app.domain.roles import Role
from app.domain.throttle import login_delay_s
from app.errors import Conflict, NotFound
from app.users.models import ApiToken, LoginAttempt, User
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


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def get_by_username(session: Session, username: str) -> User | None:
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
    if data.is_active is not None:
        user.is_active = data.is_active
    if data.password is not None:
        user.password_hash = security.hash_password(data.password)
    session.flush()
    return user


@dataclass(frozen=True)
class LoginCheck:
    user: User | None
    delay_s: float


def recent_failures(session: Session, username: str, client_ip: str) -> int:
    since = utcnow() - THROTTLE_WINDOW
    by_name = (
        session.scalar(
            select(func.count()).where(
                func.lower(LoginAttempt.username) == username.lower(),
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.created_at >= since,
            )
        )
        or 0
    )
    by_ip = (
        session.scalar(
            select(func.count()).where(
                LoginAttempt.client_ip == client_ip,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.created_at >= since,
            )
        )
        or 0
    )
    return max(by_name, by_ip)


def throttle_delay(
    session: Session, username: str, client_ip: str, *, base_s: float, max_s: float
) -> float:
    return login_delay_s(recent_failures(session, username, client_ip), base_s=base_s, max_s=max_s)


def authenticate(session: Session, username: str, password: str, client_ip: str) -> User | None:
    """Check a password and record the attempt. Returns the user only on success."""
    user = get_by_username(session, username)
    if user is None:
        security.verify_password(security.DUMMY_HASH, password)
        ok = False
    else:
        ok = user.is_active and security.verify_password(user.password_hash, password)
    session.add(LoginAttempt(username=username[:64], client_ip=client_ip[:64], succeeded=ok))
    session.flush()
    return user if ok else None


def create_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    secret, prefix, digest = security.new_api_token()
    token = ApiToken(user_id=user.id, name=name, prefix=prefix, token_hash=digest)
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


def user_for_token(session: Session, secret: str) -> User | None:
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
    return user
