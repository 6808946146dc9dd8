"""Login and logout by form. Sessions are signed HttpOnly SameSite cookies (SessionMiddleware)."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from app.auth import security
from app.auth.dependencies import OptionalUser
from app.config import get_settings
from app.db import SessionDep
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


@router.post("/login", name="login")
async def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings = get_settings()
    ip = client_ip(request)
    delay = await run_in_threadpool(
        user_service.throttle_delay,
        session,
        username,
        ip,
        base_s=settings.login_delay_base_s,
        max_s=settings.login_delay_max_s,
    )
    if delay:
        await asyncio.sleep(delay)
    user = await run_in_threadpool(user_service.authenticate, session, username, password, ip)
    if user is None:
        return render(
            request,
            "auth/login.html",
            {
                "next": _safe_next(next),
                "error": "Wrong username or password.",
                "username": username,
            },
            status_code=401,
        )
    request.session.clear()
    request.session.update(
        {
            "uid": user.id,
            "pwf": security.password_fingerprint(user.password_hash),
            "csrf": security.new_csrf_token(),
        }
    )
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", name="logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
