"""The web application: routers, middleware, error pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp

from app import install_session_listeners
from app.audit import routes as audit_routes
from app.auth import routes as auth_routes
from app.auth.dependencies import (
    SESSION_COOKIE,
    CsrfFailed,
    NotAuthenticated,
    ReadOnlyToken,
    RoleForbidden,
    bearer_secret,
    csrf_protect,
)
from app.codec_runs import api as runs_api
from app.codec_runs import routes as runs_routes
from app.codec_weights import routes as codec_weights_routes
from app.config import PROJECT_ROOT, Settings, get_settings
from app.datasets import api as datasets_api
from app.datasets import routes as datasets_routes
from app.db import LOST_DATABASE, RETRY_AFTER_S, make_engine, make_sessionmaker
from app.domain.validation import validation_message
from app.errors import UserError
from app.exports import api as exports_api
from app.exports import routes as exports_routes
from app.home import router as home_router
from app.monitoring import routes as monitoring_routes
from app.monitoring.requests import RequestMetricsMiddleware
from app.pair_audits import api as pair_audits_api
from app.pair_audits import routes as pair_audits_routes
from app.request_limits import BodyLimitMiddleware, InputShapeMiddleware
from app.security_headers import SecurityHeadersMiddleware
from app.signed_media_asgi import SignedMediaMiddleware
from app.studies import (
    adjudication_routes,
    media_routes,
    qualification_routes,
    retraining_routes,
    taxonomy_routes,
    workspace,
)
from app.studies import api as studies_api
from app.studies import member_routes as study_member_routes
from app.studies import routes as studies_routes
from app.users import api as users_api
from app.users import routes as users_routes
from app.web import is_htmx, render

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = (
    "The database is not answering right now (it may be restarting). Nothing you entered is "
    "lost: try again in a few seconds."
)
"""What a request that lost the database is told (503): the page, htmx's error area, `detail`."""


class MiscompApp(FastAPI):
    """FastAPI with the security headers and the request figures outside everything else,
    500 pages included (Starlette puts its ServerErrorMiddleware outside every added
    middleware)."""

    def build_middleware_stack(self) -> ASGIApp:
        # Signed image links are answered inside the two (headers and figures alike) but
        # before everything else (app.signed_media_asgi).
        signed = next((r for r in self.routes if getattr(r, "name", "") == "signed_asset"), None)
        inner = SignedMediaMiddleware(
            super().build_middleware_stack(), settings=self.state.settings, route=signed
        )
        return SecurityHeadersMiddleware(RequestMetricsMiddleware(inner))


ROUTERS = (
    # The workspace's first: a request is matched against the routers in this order, route by
    # route, and the annotators' requests are most of them (no other route matches its paths).
    workspace.router,
    auth_routes.router,
    home_router,
    users_routes.router,
    users_api.router,
    datasets_routes.router,
    datasets_api.router,
    audit_routes.router,
    runs_routes.router,
    runs_api.router,
    codec_weights_routes.router,
    studies_routes.router,
    adjudication_routes.router,
    retraining_routes.router,
    study_member_routes.router,
    qualification_routes.router,
    studies_api.router,
    taxonomy_routes.router,
    media_routes.router,
    exports_routes.router,
    exports_api.router,
    pair_audits_routes.router,
    pair_audits_api.router,
    monitoring_routes.router,
)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or (
        "application/json" in request.headers.get("accept", "")
        and "text/html" not in request.headers.get("accept", "")
    )


def _error(request: Request, status_code: int, message: str, back: str = "/") -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    return render(
        request,
        "error.html",
        {"status_code": status_code, "message": message, "back": back},
        status_code=status_code,
    )


def _nearest_page(request: Request) -> str:
    """The longest leading part of the request's path that is a page one can open (GET), so
    that an error can point back to where the user most likely came from."""
    parts = request.url.path.rstrip("/").split("/")
    for end in range(len(parts) - 1, 0, -1):
        path = "/".join(parts[:end]) or "/"
        scope = {"type": "http", "path": path, "method": "GET"}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            return path
    return "/"


def _routing_message(request: Request, exc: StarletteHTTPException) -> str:
    """Plain words for what Starlette's router refuses before any route runs."""
    path = request.url.path
    if exc.status_code == 404:
        return f"There is no page at {path}. Check the address, or start again from the start page."
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow", "") if exc.headers else ""
        if request.method == "GET" and "POST" in allowed:
            return (
                f"{path} is where a button sends its form, not a page to open. "
                "Go back to the page with the button and use it there."
            )
        return f"{path} does not take a {request.method} request (it takes {allowed or 'none'})."
    return str(exc.detail)


def create_app(settings: Settings | None = None, **state: Any) -> FastAPI:
    settings = settings or get_settings()
    install_session_listeners()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if "engine" in app.state._state:
            app.state.engine.dispose()

    # No Swagger UI or ReDoc: they load from a CDN, which the CSP forbids (README, Security).
    app = MiscompApp(
        title="miscomp",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(csrf_protect)],
        docs_url=None,
        redoc_url=None,
    )
    if "sessionmaker" in state:
        app.state.sessionmaker = state["sessionmaker"]
    else:
        app.state.engine = make_engine(settings.database_url, lock_on_begin=True)
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
    app.state.settings = settings

    # The last added runs first: the session cookie is decoded before the body limits,
    # which refuse an anonymous upload from its headers.
    app.add_middleware(InputShapeMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.https_only_cookies,
    )

    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        # A client that sends a token is a program, not a browser: a login page is no use to
        # it, and with a revoked token the login page itself would redirect it in a loop.
        if _wants_json(request) or bearer_secret(request) is not None:
            return JSONResponse(
                {"detail": exc.reason}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(RoleForbidden)
    async def _forbidden(request: Request, exc: RoleForbidden) -> Response:
        return _error(request, 403, exc.message)

    @app.exception_handler(ReadOnlyToken)
    async def _read_only(request: Request, exc: ReadOnlyToken) -> Response:
        return _error(request, 403, exc.message)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return _error(request, 403, "CSRF token missing or invalid; reload the page and retry")

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError) -> Response:
        return _error(request, exc.status_code, exc.message)

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> Response:
        # URL-encoded forms and JSON are checked for NUL before any route runs
        # (app/request_limits.py); a text field of a multipart form is caught here, when the
        # database refuses it and the request's transaction has been rolled back.
        if "NUL" not in str(exc.orig):
            raise exc
        return _error(request, 422, "a text field holds a NUL character (U+0000); remove it")

    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        # The request's transaction was rolled back (or never began); a submission carries
        # its id, so trying it again stores it once (app/studies/labels.py).
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        logger.warning(
            "database unavailable, %s %s answered 503: %s",
            request.method,
            request.url.path,
            reason[0] if reason else type(exc).__name__,
        )
        response = _error(request, 503, DATABASE_UNAVAILABLE)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    for lost in LOST_DATABASE:
        app.add_exception_handler(lost, _database_unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        response = _error(
            request, exc.status_code, _routing_message(request, exc), _nearest_page(request)
        )
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": jsonable_errors(exc)}, status_code=422)
        return _error(request, 422, validation_message(exc.errors(), request=True))

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(PROJECT_ROOT / "static")), name="static")
    return app


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
