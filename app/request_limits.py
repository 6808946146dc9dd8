"""What a request body may be, checked before any route reads it.

- No body over MISCOMP_MAX_UPLOAD_BYTES (413), from anyone.
- No body over ``ANONYMOUS_MAX_BODY_BYTES`` from someone who is not logged in (401): the only
  routes open to them (the login and logout forms) take a few hundred bytes, so an anonymous
  upload is refused from its headers, before a byte of it is read or parsed.
- No NUL character in the path or the query (400): no PostgreSQL text can hold one, and no
  name, token or file the platform serves contains one.
- Every JSON body goes through :func:`app.domain.bounds.parse_json` (size, nesting depth, no
  NaN): a refused one answers 422 naming ``body``, the shape of FastAPI's own validation
  errors, where Python's parser would have hit its recursion limit.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.dependencies import SAFE_METHODS, bearer_secret
from app.domain.bounds import MAX_JSON_BYTES, JsonRefused, parse_json
from app.users import service as user_service

ANONYMOUS_MAX_BODY_BYTES = 64 * 1024
"""The largest body accepted from a client with neither a live session nor an API token."""


class BodyRefused(Exception):
    """Raised from ``receive`` once a body passes its limit; the middleware answers."""


def _declared_length(scope: Scope) -> int | None:
    value = dict(scope["headers"]).get(b"content-length")
    return int(value) if value is not None and value.isdigit() else None


def _may_carry_body(scope: Scope, declared: int | None) -> bool:
    if declared is not None:
        return declared > 0
    return b"transfer-encoding" in dict(scope["headers"])


def is_authenticated(request: Request) -> bool:
    """Whether the request carries a live API token or a live session, by the same rules as
    ``app.auth.dependencies`` (which still decides, later, who it is and what they may do).
    Looked up in a session of its own that is never committed."""
    settings = request.app.state.settings
    with request.app.state.sessionmaker() as session:
        secret = bearer_secret(request)
        if secret is not None:
            return user_service.token_holder(session, secret) is not None
        session_secret = request.session.get("sid")
        return (
            isinstance(session_secret, str)
            and user_service.user_for_session(
                session, session_secret, max_age=timedelta(seconds=settings.session_max_age_s)
            )
            is not None
        )


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (413), and anonymous bodies over
    ``ANONYMOUS_MAX_BODY_BYTES`` (401), before they are parsed or stored.

    The declared Content-Length is checked first, so a refused upload is not read at all;
    the bytes actually received are counted too, because a chunked upload declares no
    length. Credentials are looked up only for a body that might pass the anonymous limit.
    Runs inside SessionMiddleware, which has decoded the session cookie by then.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        limit, refuse = self.max_bytes, self._too_large
        if declared is not None and declared > self.max_bytes:
            await refuse(scope, receive, send)
            return
        if (
            _may_carry_body(scope, declared)
            and (declared is None or declared > ANONYMOUS_MAX_BODY_BYTES)
            and not await run_in_threadpool(is_authenticated, Request(scope))
        ):
            limit, refuse = ANONYMOUS_MAX_BODY_BYTES, self._anonymous
            if declared is not None:
                await refuse(scope, receive, send)
                return
        received = 0
        exceeded = started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyRefused()
            return message

        async def refusing_send(message: Message) -> None:
            # A body parser may turn BodyRefused into an answer of its own (FastAPI's 400
            # "error parsing the body"): the refusal is sent in its place.
            nonlocal started
            if message["type"] == "http.response.start":
                if started:
                    return
                started = True
                if exceeded:
                    await refuse(scope, receive, send)
                    return
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, limited_receive, refusing_send)
        except BodyRefused:
            if not started:
                await refuse(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body exceeds {self.max_bytes:,} bytes (MISCOMP_MAX_UPLOAD_BYTES)"},
            status_code=413,
        )
        await response(scope, receive, send)

    async def _anonymous(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {
                "detail": "log in (or send an API token) before sending a body over "
                f"{ANONYMOUS_MAX_BODY_BYTES:,} bytes"
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer", "HX-Redirect": "/login"},
        )
        await response(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    header: bytes = dict(scope["headers"]).get(b"content-type", b"")
    media_type = header.split(b";")[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")


def _is_urlencoded_form(scope: Scope) -> bool:
    header: bytes = dict(scope["headers"]).get(b"content-type", b"")
    return header.split(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"


def field_with_nul(body: bytes) -> str | None:
    """The name of the first field of a URL-encoded form whose name or value holds a NUL
    character (no text column can store one), or None."""
    if b"%00" not in body and b"\0" not in body:
        return None
    for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if "\0" in name or "\0" in value:
            return name.replace("\0", "") or "body"
    return None


def has_nul(scope: Scope) -> bool:
    """Whether the request's path or query string holds a NUL character, as sent or
    percent-encoded."""
    path: str = scope.get("path", "")
    query: bytes = scope.get("query_string", b"")
    return "\0" in path or b"%00" in query or b"\0" in query


class InputShapeMiddleware:
    """Refuse a URL holding NUL, and read every JSON request body once through
    ``parse_json`` before the route parses it: one place bounds the size and the nesting
    depth of any JSON a client sends. A URL-encoded form with a NUL in a field is refused
    too, naming the field (JSON refuses ``\\u0000`` in ``parse_json``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and has_nul(scope):
            response = JSONResponse(
                {"detail": "the URL contains a NUL character (%00)"}, status_code=400
            )
            await response(scope, receive, send)
            return
        form = scope["type"] == "http" and _is_urlencoded_form(scope)
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not (form or _is_json(scope))
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        # Forms are read whole (BodyLimitMiddleware bounds them); JSON up to its own bound.
        while more and (form or size <= MAX_JSON_BYTES):
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
        body = b"".join(chunks)
        nul_field = field_with_nul(body) if form else None
        if nul_field is not None:
            refusal = "must not contain a NUL character (U+0000)"
            response = JSONResponse(
                {"detail": [{"loc": ["body", nul_field], "msg": refusal, "type": "value_error"}]},
                status_code=422,
            )
            await response(scope, receive, send)
            return
        if body and not form:
            try:
                parse_json(body, field="body")
            except JsonRefused as exc:
                response = JSONResponse(
                    {
                        "detail": [
                            {"loc": ["body", *exc.loc], "msg": str(exc), "type": "json_invalid"}
                        ]
                    },
                    status_code=422,
                )
                await response(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
