"""Who is asking, and may they? Every route declares the roles it admits through these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from app.audit.listener import set_actor
from app.auth import security
from app.db import SessionDep
from app.domain.roles import (
    ALL_ROLES,
    ANNOTATORS,
    AUDIT_READERS,
    DATASET_READERS,
    DATASET_WRITERS,
    STUDY_MANAGERS,
    TAXONOMY_EDITORS,
    USER_MANAGERS,
    Role,
    TokenScope,
)
from app.users import service as user_service
from app.users.models import User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Viewer:
    """Who is looking, for templates: plain values that outlive the request's DB session
    (an error page renders after a rollback has expired the ORM objects)."""

    id: int
    username: str
    role: Role


class NotAuthenticated(Exception):
    """No valid session or token; HTML routes redirect to the login page, the API says 401."""

    def __init__(self, reason: str = "authentication required") -> None:
        super().__init__(reason)
        self.reason = reason


class RoleForbidden(Exception):
    def __init__(self, role: Role) -> None:
        super().__init__(f"this page is not available to the {role.value} role")
        self.message = str(self)


class CsrfFailed(Exception):
    pass


class ReadOnlyToken(Exception):
    """A read-scoped API token asked to change something: 403, whatever the role allows."""

    message = "this API token is read-only: it may only GET"


def bearer_secret(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def current_user_optional(request: Request, session: SessionDep) -> User | None:
    secret = bearer_secret(request)
    user: User | None
    if secret is not None:
        holder = user_service.token_holder(session, secret)
        if holder is None:
            raise NotAuthenticated("invalid or revoked API token")
        user, scope = holder
        if scope == TokenScope.READ and request.method not in SAFE_METHODS:
            raise ReadOnlyToken()
    else:
        user = _session_user(request, session)
    if user is not None:
        set_actor(session, actor_id=user.id, label=user.username)
        request.state.viewer = Viewer(user.id, user.username, user.role)
    return user


SESSION_COOKIE = "miscomp_session"
"""The browser session's cookie (Starlette's SessionMiddleware, signed with the secret key)."""


def session_secret(request: Request) -> str | None:
    """The server-side session's secret (``sid``) the request's session cookie carries."""
    secret = request.session.get("sid")
    return secret if isinstance(secret, str) else None


def _session_user(request: Request, session: SessionDep) -> User | None:
    """The user of the cookie's server-side session (``user_session``), if it is still live;
    a cookie whose session was ended (logout, password change, deactivation, age) is
    emptied. The password fingerprint also ends sessions whose password was changed outside
    the application (by SQL)."""
    secret = session_secret(request)
    if secret is None:
        if "uid" in request.session:  # a cookie from before server-side sessions
            request.session.clear()
        return None
    settings = request.app.state.settings
    user = user_service.user_for_session(
        session, secret, max_age=timedelta(seconds=settings.session_max_age_s)
    )
    if user is None or request.session.get("pwf") != security.password_fingerprint(
        user.password_hash
    ):
        request.session.clear()
        return None
    return user


OptionalUser = Annotated[User | None, Depends(current_user_optional)]


def require_roles(roles: frozenset[Role]) -> Callable[[User | None], Awaitable[User]]:
    # A coroutine: it does no I/O, and a plain function would cost every request one more
    # round trip through the thread pool.
    async def dependency(user: OptionalUser) -> User:
        if user is None:
            raise NotAuthenticated()
        if user.role not in roles:
            raise RoleForbidden(user.role)
        return user

    return dependency


AnyUser = Annotated[User, Depends(require_roles(ALL_ROLES))]
AdminUser = Annotated[User, Depends(require_roles(USER_MANAGERS))]
DatasetReader = Annotated[User, Depends(require_roles(DATASET_READERS))]
DatasetWriter = Annotated[User, Depends(require_roles(DATASET_WRITERS))]
AuditReader = Annotated[User, Depends(require_roles(AUDIT_READERS))]
Annotator = Annotated[User, Depends(require_roles(ANNOTATORS))]
StudyManager = Annotated[User, Depends(require_roles(STUDY_MANAGERS))]
TaxonomyEditor = Annotated[User, Depends(require_roles(TAXONOMY_EDITORS))]


def csrf_token_for(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = security.new_csrf_token()
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """Every state-changing request either carries a Bearer token or the session's CSRF token."""
    if request.method in SAFE_METHODS or bearer_secret(request) is not None:
        return
    given = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if not given and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not security.tokens_match(request.session.get("csrf"), given):
        raise CsrfFailed()
