"""The short way for signed image links: answered before the framework's middleware, session
and router, which cost several times what serving a crop does.

An annotator's browser fetches four or more images for every item; their links are signed
for its session (``app.signed_media``), so answering one needs only the session cookie, the
secret key and the file. Whatever this layer cannot answer (a link that does not open, a
missing file, another address) goes on to the application, whose route for the same
addresses (``app.studies.media_routes.signed_asset``) answers it as it answers any request.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from functools import lru_cache

import anyio.to_thread
from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import cookie_parser
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app import signed_media
from app.auth.dependencies import SESSION_COOKIE
from app.config import Settings
from app.storage import LocalMediaStorage, media_storage
from app.web import media_response

PREFIX = "/media/signed/"
SUFFIX = ".png"


REVERIFY_S = 30
"""How long a cookie's verification is reused: a workspace fetches four or more images per
item under the same cookie, and checking its signature each time was half of what this
middleware spent on an image. A cookie is then taken at most this long past its
``max_age``."""


def session_id(cookie: str, secret_key: str, max_age_s: int) -> str | None:
    """The server-side session id (``sid``) a session cookie carries, if its signature holds
    and it is younger than ``max_age_s``: what Starlette's SessionMiddleware reads from it."""
    return _verified_session_id(cookie, secret_key, max_age_s, int(time.monotonic() // REVERIFY_S))


@lru_cache(maxsize=4096)
def _verified_session_id(cookie: str, secret_key: str, max_age_s: int, _period: int) -> str | None:
    try:
        data = TimestampSigner(secret_key).unsign(cookie.encode(), max_age=max_age_s)
        session = json.loads(base64.b64decode(data))
    except (BadSignature, binascii.Error, ValueError):
        return None
    sid = session.get("sid") if isinstance(session, dict) else None
    return sid if isinstance(sid, str) else None


class SignedMediaMiddleware:
    """Pure ASGI: answers ``GET /media/signed/{link}.png`` when the link opens for the
    request's session, with the bytes and headers of ``app.web.uniform_media``."""

    def __init__(self, app: ASGIApp, *, settings: Settings, route: BaseRoute | None) -> None:
        self.app = app
        self.settings = settings
        self.route = route
        """The application's route for these addresses: the request figures' label."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._answer(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        await media_response(body, "image/png")(scope, receive, send)

    async def _answer(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]  # behind a proxy's prefix, as the router sees it
        if scope["method"] != "GET" or not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return None
        link = path[len(PREFIX) : -len(SUFFIX)]
        cookie = _header(scope, b"cookie")
        sid = None
        if cookie and SESSION_COOKIE in cookie:
            sid = session_id(
                cookie_parser(cookie).get(SESSION_COOKIE, ""),
                self.settings.secret_key,
                self.settings.session_max_age_s,
            )
        key = signed_media.open_link(self.settings.secret_key, link, sid)
        if key is None:
            return None
        storage = media_storage(self.settings)
        try:
            if isinstance(storage, LocalMediaStorage):
                return storage.read(key)  # a small local file: quicker than a thread
            return await anyio.to_thread.run_sync(storage.read, key)
        except FileNotFoundError:
            return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
