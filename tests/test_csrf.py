"""Every state-changing request (POST, PUT, PATCH, DELETE; forms and JSON) from a logged-in
browser is refused without its session's CSRF token, and changes nothing."""

from __future__ import annotations

from typing import Any

import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.dependencies import SAFE_METHODS
from app.domain.roles import Role
from tests.conftest import app_routes, csrf_of, database_fingerprint, login
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.route_world import build_world
from tests.test_route_roles import ANNOTATOR, EXPECTED

REFUSAL = "CSRF token missing or invalid"


def test_every_state_changing_route_refuses_a_missing_or_foreign_csrf_token(
    client: TestClient, db: Session, redis_client: redis.Redis
) -> None:
    world = build_world(db)
    admin, annotator = make_user(db, Role.ADMIN), make_user(db, Role.ANNOTATOR)
    db.commit()
    # Each route is asked from a session of a role it admits, so that only the CSRF check
    # stands between the request and the route.
    login(client, admin)
    as_annotator = TestClient(client.app, follow_redirects=False)
    login(as_annotator, annotator)
    # A real token of another browser's session, as a forging page could obtain one.
    foreign = csrf_of(TestClient(client.app))
    # The login form's fields, so that a forged login would succeed were its token unchecked.
    fields = {"username": admin.username, "password": DEFAULT_PASSWORD}
    before = database_fingerprint(db), redis_client.dbsize()

    failures = []
    walked = 0
    for method, path in app_routes():
        if method in SAFE_METHODS:
            continue
        browser = as_annotator if EXPECTED[(method, path)] == ANNOTATOR else client
        url = path.format(**world.ids)
        api = path.startswith("/api/")
        attempts: dict[str, dict[str, Any]] = {
            "no token": {"json": {}} if api else {"data": fields},
            "another session's token in the header": {"headers": {"X-CSRF-Token": foreign}},
            "a made-up token in the header": {"headers": {"X-CSRF-Token": "x" * 43}},
        }
        if not api:
            attempts["another session's token in the form"] = {
                "data": {**fields, "csrf_token": foreign}
            }
        for how, request in attempts.items():
            answer = browser.request(method, url, **request)
            walked += 1
            if answer.status_code != 403 or REFUSAL not in answer.text:
                failures.append(f"{method} {path} with {how}: {answer.status_code}")
    assert not failures, "\n".join(failures)
    assert walked > 100
    assert (database_fingerprint(db), redis_client.dbsize()) == before
    # Nor did a refused logout end either session.
    assert client.get("/api/me").json()["username"] == admin.username
    assert as_annotator.get("/api/me").json()["username"] == annotator.username
