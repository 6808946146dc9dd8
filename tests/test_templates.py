"""Templates link to the app by route name (``path_for``), never by a literal path: a route
that moves then moves every link to it, and a link to a route that does not exist fails here
rather than in a page nobody happened to open."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from jinja2 import nodes
from sqlalchemy.orm import Session
from starlette.routing import NoMatchFound

from app.domain.roles import Role
from app.main import create_app
from app.web import templates
from tests.conftest import login
from tests.factories import make_user

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# An attribute whose value starts with "/" is a literal link into the app.
LITERAL_URL = re.compile(
    r"""\b(href|src|action|formaction|hx-(?:get|post|put|patch|delete))\s*=\s*["']/"""
)

# (template, line text) pairs allowed to keep a literal path, each with its reason; none now.
ALLOWED: dict[tuple[str, str], str] = {}


def _template_files() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_hold_no_literal_app_url() -> None:
    found = []
    for path in _template_files():
        name = path.relative_to(TEMPLATES).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if LITERAL_URL.search(line) and (name, line.strip()) not in ALLOWED:
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "use path_for('route_name', ...) instead of a literal path:\n" + "\n".join(
        found
    )


def _path_for_calls() -> list[tuple[str, str, list[str]]]:
    """(template, route name, keyword names) of every ``path_for`` call in the templates."""
    calls = []
    for path in _template_files():
        tree = templates.env.parse(path.read_text())
        for call in tree.find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name == "path_for":
                assert len(call.args) == 1 and isinstance(call.args[0], nodes.Const), path
                keywords = [k.key for k in call.kwargs]
                calls.append((path.relative_to(TEMPLATES).as_posix(), call.args[0].value, keywords))
    return calls


def test_every_path_for_names_a_route_with_its_parameters() -> None:
    app = create_app(sessionmaker=object())
    calls = _path_for_calls()
    assert len(calls) > 50
    broken = []
    for template, route, keywords in calls:
        try:
            app.url_path_for(route, **dict.fromkeys(keywords, "1"))
        except NoMatchFound:
            broken.append(f"{template}: path_for({route!r}, {', '.join(keywords)})")
    assert not broken, "no such route (or wrong parameters):\n" + "\n".join(broken)


def test_rendered_pages_link_by_path(client: TestClient, db: Session) -> None:
    login(client, make_user(db, Role.ADMIN))
    page = client.get("/").text
    for link in (
        'href="/static/css/app.css"',
        'src="/static/vendor/htmx.min.js"',
        'href="/"',
        'href="/datasets"',
        'href="/runs"',
        'href="/studies"',
        'href="/admin/users"',
        'href="/admin/audit"',
        'href="/account/tokens"',
        'action="/logout"',
        'href="/datasets/new"',
    ):
        assert link in page


def test_login_page_posts_to_its_path(client: TestClient) -> None:
    assert 'action="/login"' in client.get("/login").text


def test_a_path_found_once_is_kept_for_its_root_path_and_parameters() -> None:
    """``path_for`` keeps what the router found (it tries every route): the same name under
    another root path (behind a proxy's prefix) or with other parameters is found anew."""
    from starlette.requests import Request

    from app.web import path_for

    app = create_app()

    def path(root_path: str, **params: object) -> str:
        scope = {"type": "http", "app": app, "router": app.router, "root_path": root_path}
        scope |= {"path": "/", "headers": [], "server": ("testserver", 80), "scheme": "http"}
        return str(path_for({"request": Request(scope)}, "annotate_back", **params))

    assert path("", study_id=1) == "/annotate/studies/1/back"
    assert path("", study_id=1) == "/annotate/studies/1/back"
    assert path("", study_id=2) == "/annotate/studies/2/back"
    assert path("/miscomp", study_id=1) == "/miscomp/annotate/studies/1/back"
