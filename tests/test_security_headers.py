"""Security headers on every kind of response, and templates the CSP can serve as they are
(issue 13, finding 10). The browser side (no CSP violation on any page, as any role) is
tests/browser/test_security_policy.py."""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT
from app.domain.roles import Role
from app.security_headers import CONTENT_SECURITY_POLICY, SVG_CONTENT_SECURITY_POLICY, headers_for
from tests.conftest import login
from tests.factories import make_user

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def assert_secured(response: httpx.Response, what: str) -> None:
    policy = response.headers.get("content-security-policy")
    assert policy == CONTENT_SECURITY_POLICY, (what, response.status_code, policy)
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (what, name, response.headers.get(name))
    assert "permissions-policy" in response.headers, what


def directives(policy: str) -> dict[str, list[str]]:
    return {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part
    }


def test_the_policy_allows_only_the_platforms_own_scripts_and_styles() -> None:
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY  # no CDN


def test_svg_figures_get_no_script_at_all() -> None:
    policy = dict(headers_for("image/svg+xml"))["Content-Security-Policy"]
    assert policy == SVG_CONTENT_SECURITY_POLICY
    parsed = directives(policy)
    assert parsed["default-src"] == ["'none'"]
    assert "sandbox" in parsed
    assert "script-src" not in parsed
    assert dict(headers_for("text/html; charset=utf-8"))["Content-Security-Policy"] == (
        CONTENT_SECURITY_POLICY
    )


def test_pdf_figures_stay_viewable_in_chrome_but_not_framed() -> None:
    policy = directives(dict(headers_for("application/pdf"))["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    # Chrome's PDF viewer is refused by object-src, style-src and sandbox (crbug.com/271452).
    assert not {"default-src", "object-src", "style-src", "sandbox"} & set(policy)
    assert dict(headers_for("application/pdf"))["X-Frame-Options"] == "DENY"


def test_headers_on_html_json_static_and_errors(client: TestClient, db: Session) -> None:
    assert_secured(client.get("/login"), "HTML page")
    assert_secured(client.get("/healthz"), "JSON")
    assert_secured(client.get("/static/css/app.css"), "static CSS")
    assert_secured(client.get("/static/vendor/htmx.min.js"), "vendored script")
    assert_secured(client.get("/static/no-such-file.js"), "static 404")
    assert_secured(client.get("/no-such-page", headers={"Accept": "text/html"}), "HTML 404")
    assert_secured(client.get("/api/no-such-route"), "JSON 404")
    assert_secured(client.get("/api/me"), "JSON 401")
    assert_secured(client.get("/datasets"), "redirect to the login page")
    assert_secured(client.post("/login", data={"username": "x", "password": "y"}), "CSRF 403")
    user = make_user(db, Role.ANNOTATOR)
    login(client, user)
    assert_secured(client.get("/"), "signed-in page")
    assert_secured(client.get("/datasets", headers={"Accept": "text/html"}), "HTML 403")
    assert_secured(client.get("/api/me"), "JSON API")
    assert_secured(client.get("/api/datasets/1"), "JSON 403")


def test_headers_on_oversized_uploads_and_server_errors(app: FastAPI) -> None:
    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/test-only/boom")
        assert response.status_code == 500
        assert_secured(response, "500")
        too_big = app.state.settings.max_upload_bytes + 1
        response = client.post("/api/datasets", headers={"Content-Length": str(too_big)})
        # Refused by a middleware before any route runs (too large, or anonymous).
        assert response.status_code in (401, 403, 413)
        assert_secured(response, "refused upload")


def test_no_swagger_ui_but_the_schema_stays_public(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "miscomp"
    assert_secured(schema, "OpenAPI schema")


INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "hx-on attribute": re.compile(r"\s(data-)?hx-on", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "js: expression": re.compile(r"hx-(vals|vars)\s*=\s*['\"]\s*js:", re.I),
    "htmx event filter": re.compile(r"hx-trigger\s*=\s*['\"][^'\"]*\[", re.I),
}


@pytest.mark.parametrize("what", list(INLINE))
def test_templates_hold_nothing_the_policy_would_block(what: str) -> None:
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}"
        for path in sorted((PROJECT_ROOT / "templates").rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if INLINE[what].search(line)
    ]
    assert not found, f"{what} in templates (the CSP blocks it): {found}"
