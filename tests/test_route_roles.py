"""Walk every route of the web UI and the JSON API as every role (and as nobody).

A new route must be added to EXPECTED with the roles it admits, or this test fails: access
rules are never left to chance.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.users import service as user_service
from tests.conftest import app_routes, login
from tests.factories import make_user
from tests.route_world import World, build_world

PUBLIC = "public"
ADMIN = frozenset({Role.ADMIN})
READERS = frozenset({Role.ADMIN, Role.RESEARCHER})
EVERYONE = frozenset(Role)
ANNOTATOR = frozenset({Role.ANNOTATOR})

EXPECTED: dict[tuple[str, str], frozenset[Role] | str] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/metrics"): ADMIN,
    ("GET", "/"): EVERYONE,
    ("GET", "/account/tokens"): EVERYONE,
    ("POST", "/account/tokens"): EVERYONE,
    ("POST", "/account/tokens/{token_id}/revoke"): EVERYONE,
    ("GET", "/api/me"): EVERYONE,
    ("GET", "/api/tokens"): EVERYONE,
    ("POST", "/api/tokens"): EVERYONE,
    ("DELETE", "/api/tokens/{token_id}"): EVERYONE,
    ("GET", "/annotate"): ANNOTATOR,
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/groups"): ADMIN,
    ("POST", "/admin/groups/{group_id}/members"): ADMIN,
    ("POST", "/admin/groups/{group_id}/members/remove"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("POST", "/admin/users/{user_id}"): ADMIN,
    ("POST", "/admin/users/{user_id}/password"): ADMIN,
    ("GET", "/account/password"): EVERYONE,
    ("POST", "/account/password"): EVERYONE,
    ("GET", "/admin/taxonomy"): ADMIN,
    ("GET", "/admin/taxonomy/edit"): ADMIN,
    ("POST", "/admin/taxonomy"): ADMIN,
    ("GET", "/media/taxonomy/{digest}.png"): EVERYONE,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("PATCH", "/api/users/{user_id}"): ADMIN,
    ("GET", "/admin/audit"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    ("GET", "/datasets"): READERS,
    ("GET", "/datasets/new"): ADMIN,
    ("POST", "/datasets"): ADMIN,
    ("GET", "/datasets/{dataset_id}"): READERS,
    ("GET", "/datasets/{dataset_id}/import"): ADMIN,
    ("POST", "/datasets/{dataset_id}/import"): ADMIN,
    ("GET", "/imports/{import_id}"): ADMIN,
    ("GET", "/images/{image_id}"): READERS,
    ("GET", "/media/images/{image_id}/pixels.png"): READERS,
    ("GET", "/media/images/{image_id}/thumbnail.jpg"): READERS,
    ("GET", "/api/datasets"): READERS,
    ("POST", "/api/datasets"): ADMIN,
    ("GET", "/api/datasets/{dataset_id}"): READERS,
    ("GET", "/api/datasets/{dataset_id}/images"): READERS,
    ("POST", "/api/datasets/{dataset_id}/imports"): ADMIN,
    ("GET", "/api/imports/{import_id}"): ADMIN,
    ("GET", "/api/images/{image_id}"): READERS,
    ("GET", "/runs"): READERS,
    ("GET", "/runs/new"): ADMIN,
    ("GET", "/runs/import"): ADMIN,
    ("POST", "/runs/import"): ADMIN,
    ("POST", "/runs"): ADMIN,
    ("GET", "/runs/{run_id}"): READERS,
    ("GET", "/runs/{run_id}/results/{result_id}"): READERS,
    ("POST", "/runs/{run_id}/cancel"): ADMIN,
    ("POST", "/runs/{run_id}/retry"): ADMIN,
    ("GET", "/media/results/{result_id}/{kind}.png"): READERS,
    ("GET", "/api/codecs"): READERS,
    ("GET", "/codecs"): ADMIN,
    ("POST", "/codecs/weights"): ADMIN,
    ("GET", "/datasets/{dataset_id}/rd.{fmt}"): READERS,
    ("GET", "/images/{image_id}/rd.{fmt}"): READERS,
    ("GET", "/api/datasets/{dataset_id}/rd"): READERS,
    ("GET", "/api/images/{image_id}/rd"): READERS,
    ("POST", "/api/sweeps"): ADMIN,
    ("GET", "/api/sweeps/{sweep_id}"): READERS,
    ("GET", "/api/runs"): READERS,
    ("POST", "/api/runs"): ADMIN,
    ("POST", "/api/runs/import"): ADMIN,
    ("GET", "/api/runs/{run_id}"): READERS,
    ("POST", "/api/runs/{run_id}/cancel"): ADMIN,
    ("POST", "/api/runs/{run_id}/retry"): ADMIN,
    ("GET", "/studies"): READERS,
    ("GET", "/studies/new"): READERS,
    ("GET", "/studies/new/instructions"): READERS,
    ("POST", "/studies"): READERS,
    ("GET", "/studies/{study_id}"): READERS,
    ("POST", "/studies/{study_id}/access"): READERS,
    ("POST", "/studies/{study_id}/members"): READERS,
    ("POST", "/studies/{study_id}/members/remove"): READERS,
    ("POST", "/studies/{study_id}/qualification/reset"): READERS,
    ("GET", "/studies/{study_id}/results"): READERS,
    ("GET", "/studies/{study_id}/detector"): READERS,
    ("POST", "/studies/{study_id}/detector"): READERS,
    ("GET", "/studies/{study_id}/detector/{retraining_id}/weights.pt"): READERS,
    ("GET", "/studies/{study_id}/adjudication"): READERS,
    ("GET", "/studies/{study_id}/gallery"): READERS,
    ("GET", "/studies/{study_id}/gallery/{item_id}.{fmt}"): READERS,
    ("GET", "/studies/{study_id}/adjudication/{item_id}"): READERS,
    ("POST", "/studies/{study_id}/adjudication/{item_id}"): READERS,
    ("GET", "/studies/{study_id}/results/prevalence.{fmt}"): READERS,
    ("GET", "/studies/{study_id}/results/agreement.{fmt}"): READERS,
    ("GET", "/api/studies"): READERS,
    ("POST", "/api/studies"): READERS,
    ("GET", "/api/studies/{study_id}"): READERS,
    ("GET", "/api/studies/{study_id}/agreement"): READERS,
    ("GET", "/api/studies/{study_id}/adjudication"): READERS,
    ("PUT", "/api/studies/{study_id}/adjudication/{item_id}"): READERS,
    ("GET", "/api/taxonomy"): EVERYONE,
    ("POST", "/api/taxonomy/categories"): ADMIN,
    ("POST", "/api/studies/{study_id}/next"): ANNOTATOR,
    ("POST", "/api/assignments/{assignment_id}/annotation"): ANNOTATOR,
    ("POST", "/api/assignments/{assignment_id}/skip"): ANNOTATOR,
    ("GET", "/annotate/studies/{study_id}"): ANNOTATOR,
    ("POST", "/annotate/studies/{study_id}/next"): ANNOTATOR,
    ("GET", "/annotate/items/{assignment_id}"): ANNOTATOR,
    ("POST", "/annotate/items/{assignment_id}"): ANNOTATOR,
    ("POST", "/annotate/items/{assignment_id}/skip"): ANNOTATOR,
    ("POST", "/annotate/items/{assignment_id}/ahead"): ANNOTATOR,
    ("GET", "/annotate/studies/{study_id}/back"): ANNOTATOR,
    ("GET", "/annotate/studies/{study_id}/qualification"): ANNOTATOR,
    ("POST", "/annotate/studies/{study_id}/qualification"): ANNOTATOR,
    ("GET", "/media/assets/{token}.png"): EVERYONE,
    # A link opens only for the browser session it was signed for, whoever asks
    # (tests/studies/test_blinding_transport.py, tests/studies/test_annotator_isolation.py).
    ("GET", "/media/signed/{link}.png"): PUBLIC,
    ("GET", "/api/annotations/mine"): ANNOTATOR,
    ("GET", "/annotate/history"): ANNOTATOR,
    ("GET", "/annotate/annotations/{annotation_id}"): ANNOTATOR,
    ("POST", "/annotate/annotations/{annotation_id}"): ANNOTATOR,
    ("PUT", "/api/annotations/{annotation_id}"): ANNOTATOR,
    ("GET", "/studies/{study_id}/exports"): READERS,
    ("POST", "/studies/{study_id}/exports"): READERS,
    ("POST", "/api/studies/{study_id}/exports"): READERS,
    ("GET", "/api/studies/{study_id}/exports"): READERS,
    ("GET", "/api/exports/{export_id}"): READERS,
    ("GET", "/api/exports/{export_id}/download"): READERS,
    ("POST", "/api/audit"): READERS,
    ("GET", "/api/audit/{audit_id}"): READERS,
    ("GET", "/audits/{audit_id}"): READERS,
    ("GET", "/audits/{audit_id}/images/{name}.png"): READERS,
}


def test_every_route_has_an_access_rule() -> None:
    assert set(app_routes()) == set(EXPECTED)


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)


def _request(
    client: TestClient, method: str, path: str, world: World, headers: dict[str, str]
) -> int:
    url = path.format(**world.ids)
    return client.request(method, url, headers=headers).status_code


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_its_routes(
    client: TestClient, db: Session, world: World, role: Role
) -> None:
    user = make_user(db, role)
    csrf = login(client, user)
    _, secret = user_service.create_token(db, user, "walk")
    db.commit()
    failures = []
    for method, path in app_routes():
        rule = EXPECTED[(method, path)]
        if path in ("/logout", "/login"):
            continue  # logging in or out mid-walk would change who is asking
        for auth in ({"X-CSRF-Token": csrf}, {"Authorization": f"Bearer {secret}"}):
            if "Authorization" in auth and not path.startswith("/api/"):
                continue
            status = _request(client, method, path, world, auth)
            allowed = rule == PUBLIC or role in rule
            if allowed and status in (401, 403):
                failures.append(f"{role.value} refused {method} {path}: {status}")
            if not allowed and status != 403:
                failures.append(f"{role.value} reached {method} {path}: {status}")
    assert not failures, "\n".join(failures)


def test_nobody_logged_in_reaches_only_public_routes(client: TestClient, world: World) -> None:
    csrf = client.get("/login")  # a session with a CSRF token, but no user
    assert csrf.status_code == 200
    token = csrf.text.split('name="csrf-token" content="')[1].split('"')[0]
    for method, path in app_routes():
        if EXPECTED[(method, path)] == PUBLIC:
            continue
        status = _request(client, method, path, world, {"X-CSRF-Token": token})
        if path.startswith("/api/"):
            assert status == 401, (method, path, status)
        else:
            assert status == 303, (method, path, status)


def test_the_workspace_routes_come_first_and_shadow_no_other() -> None:
    """The workspace's router is matched first (``app.main.ROUTERS``: annotators' requests are
    most of the load); that is safe only while no other route answers a path of its routes,
    nor one of theirs, with the same method."""
    from starlette.routing import Match

    from app.main import ROUTERS
    from app.studies import workspace

    def example(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "1", path)

    assert ROUTERS[0] is workspace.router
    others = [route for router in ROUTERS[1:] for route in router.routes]
    for ours in workspace.router.routes:
        for method in ours.methods:  # type: ignore[attr-defined]
            for theirs in others:
                for route, path in ((theirs, ours.path), (ours, theirs.path)):  # type: ignore[attr-defined]
                    scope = {"type": "http", "path": example(path), "method": method}
                    assert route.matches(scope)[0] != Match.FULL, (ours.path, theirs.path)  # type: ignore[attr-defined]
