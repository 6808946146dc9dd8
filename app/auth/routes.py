"""Login and logout by form. The signed HttpOnly SameSite cookie (SessionMiddleware) carries a
server-side session's token (``user_session``), so that logout really ends it."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import security
from app.auth.dependencies import OptionalUser, session_secret
from app.config import Settings
from app.db import SessionDep
from app.domain.throttle import LoginLimits
from app.users import service as user_service
from app.web import render

router = APIRouter(tags=["auth"])


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an attacker's link must not bounce the user off-site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", name="login_form")
def login_form(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "auth/login.html", {"next": _safe_next(next), "error": None})


def login_limits(settings: Settings) -> LoginLimits:
    return LoginLimits(
        base_s=settings.login_delay_base_s,
        max_s=settings.login_delay_max_s,
        address_cap=settings.login_address_failure_cap,
        window=user_service.THROTTLE_WINDOW,
    )


@router.post("/login", name="login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Sync on purpose: it runs in a worker thread for the argon2 check, and commits before
    that check so that no database connection waits on it (a flood of guesses must not
    drain the pool that every other request needs)."""
    settings: Settings = request.app.state.settings
    gate = user_service.begin_login(
        session, username, client_ip(request), limits=login_limits(settings)
    )
    session.commit()
    form = {"next": _safe_next(next), "username": username}
    if gate.retry_after_s > 0:
        retry_after = max(1, math.ceil(gate.retry_after_s))
        response = render(
            request,
            "auth/login.html",
            {
                **form,
                "error": "Too many failed logins for this account or from this address; "
                f"try again in {retry_after} s.",
            },
            status_code=429,
        )
        response.headers["Retry-After"] = str(retry_after)
        return response
    if not user_service.password_matches(gate, password):
        return render(
            request,
            "auth/login.html",
            {**form, "error": "Wrong username or password."},
            status_code=401,
        )
    user, session_secret = user_service.complete_login(session, gate)
    request.session.clear()
    request.session.update(
        {
            "sid": session_secret,
            "pwf": security.password_fingerprint(user.password_hash),
            "csrf": security.new_csrf_token(),
        }
    )
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", name="logout")
def logout(request: Request, session: SessionDep) -> Response:
    """Ends the session on the server too: a copy of the cookie is worthless afterwards."""
    secret = session_secret(request)
    if secret is not None:
        user_service.end_session(session, secret)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
