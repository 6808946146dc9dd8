"""Security headers on every response: pages, JSON, static files, media, errors.

The Content-Security-Policy allows only the platform's own scripts, styles, images and
requests: no inline script or style (templates keep none; htmx is told not to inject its
indicator style and never to eval), no plugins, no framing, no foreign form targets.
Figures opened on their own get policies of their own: an SVG no script at all (a sandbox)
but the inline styles and embedded images a plotting library writes; a PDF only the
framing rule, since Chrome's PDF viewer needs what the others refuse.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SVG_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "sandbox",
    )
)
"""For ``image/svg+xml`` responses: matplotlib's SVGs style every path inline and embed
raster images as data URLs; an SVG opened as a document may run script, so none is allowed."""

PDF_CONTENT_SECURITY_POLICY = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""For ``application/pdf`` responses (figures opened in the browser): Chrome shows a PDF in a
page of its own that embeds its viewer with inline styles, which ``object-src`` or
``style-src`` would block (crbug.com/271452), and ``sandbox`` would block it too. A PDF runs
no script of this origin, so only framing is refused."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)


def headers_for(content_type: str) -> list[tuple[str, str]]:
    """The security headers of a response of ``content_type``, CSP first."""
    media_type = content_type.split(";")[0].strip().lower()
    policy = {
        "image/svg+xml": SVG_CONTENT_SECURITY_POLICY,
        "application/pdf": PDF_CONTENT_SECURITY_POLICY,
    }.get(media_type, CONTENT_SECURITY_POLICY)
    return [("Content-Security-Policy", policy), *SECURITY_HEADERS]


class SecurityHeadersMiddleware:
    """Pure ASGI: adds :func:`headers_for` to every HTTP response that does not set them.

    Installed outside Starlette's ServerErrorMiddleware (see ``app.main.MiscompApp``), so
    the headers are on 500s too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower(): value for name, value in raw}
                content_type = present.get(b"content-type", b"").decode("latin-1")
                for name, value in headers_for(content_type):
                    key = name.lower().encode("latin-1")
                    if key not in present:
                        raw.append((key, value.encode("latin-1")))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)
