"""Annotators see only their own work: every annotator route that names a lease, an
annotation, a crop image or an API token answers another annotator 404, as for an id that
does not exist (ids tell nothing), and changes nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.studies.models import Annotation, Assignment, StudyItem
from app.users import service as user_service
from tests.conftest import app_routes, database_fingerprint, login
from tests.factories import make_user
from tests.studies.helpers import blind_study, finished_run
from tests.test_route_roles import ANNOTATOR, EVERYONE, EXPECTED

OWNED = ("assignment_id", "annotation_id", "token", "token_id", "link")
"""Path parameters that name something of one user's own (``link``: an image link signed
for one browser session of theirs)."""
SHARED = {"study_id", "digest"}
"""Path parameters that name what every annotator of it shares: a study's routes act on the
asking rater's own leases (tests/studies/test_assignment.py); a taxonomy's example crop (by
its pixels' digest) is shown to everyone who labels with that taxonomy."""


def _labels(path: str, csrf: str) -> dict[str, Any]:
    """A valid body for the route, so that only ownership can refuse it."""
    labels: dict[str, Any] = {"client_id": uuid.uuid4().hex, "verdict": "unsure"}
    if "{annotation_id}" in path:
        labels["base_revision"] = 1  # an edit names the revision it started from
    if path.startswith("/api/"):
        return {"json": labels}
    return {"data": {**labels, "csrf_token": csrf}}


def test_an_annotator_reaches_nothing_of_another_annotators(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db))
    with Session(committed_db, expire_on_commit=False) as session:
        a, b = make_user(session, Role.ANNOTATOR), make_user(session, Role.ANNOTATOR)
        a_token, a_secret = user_service.create_token(session, a, "a's script")
        session.commit()
    as_a = TestClient(committed_client.app, headers={"Authorization": f"Bearer {a_secret}"})
    as_b = committed_client
    csrf = login(as_b, b)
    as_b.headers["X-CSRF-Token"] = csrf

    # Each finishes an item through the API; A also holds a second one.
    for rater in (as_a, as_b):
        lease = rater.post(f"/api/studies/{study_id}/next").json()
        stored = rater.post(
            f"/api/assignments/{lease['assignment_id']}/annotation",
            json={"client_id": uuid.uuid4().hex, "verdict": "no_miscompression"},
        )
        assert stored.status_code == 201, stored.text
    held = as_a.post(f"/api/studies/{study_id}/next").json()["assignment_id"]
    with Session(committed_db) as session:
        a_leases = list(session.scalars(select(Assignment).where(Assignment.user_id == a.id)))
        assert sorted(lease.status for lease in a_leases) == ["done", "leased"]
        annotation_id = session.scalars(
            select(Annotation.id).where(Annotation.user_id == a.id)
        ).one()
        # One world per lease of A's (finished, held): its id, an image of its item, and
        # A's annotation and API token.
        worlds = []
        for lease in a_leases:
            item = session.get(StudyItem, lease.item_id)
            assert item is not None
            worlds.append(
                {
                    "assignment_id": lease.id,
                    "token": item.assets["original"],
                    "annotation_id": annotation_id,
                    "token_id": a_token.id,
                }
            )

    # A's browser session, whose workspace names A's images by links signed for it.
    a_browser = TestClient(committed_client.app, follow_redirects=False)
    login(a_browser, a)
    for world in worlds:
        page = a_browser.get(f"/annotate/items/{world['assignment_id']}")
        world["link"] = re.findall(r"/media/signed/([A-Za-z0-9_-]+)\.png", page.text)[0]
        assert a_browser.get(f"/media/signed/{world['link']}.png").status_code == 200

    annotator_routes = [
        (method, path)
        for method, path in app_routes()
        if EXPECTED[(method, path)] in (ANNOTATOR, EVERYONE)
        and set(re.findall(r"{(\w+)}", path)) - SHARED
    ]
    named = {name for _, path in annotator_routes for name in re.findall(r"{(\w+)}", path)}
    assert named <= set(OWNED), "a new annotator route names something: walk it, in OWNED"
    # The ids are live: A reaches every page and image of theirs.
    for world in worlds:
        for url in ("/annotate/items/{assignment_id}", "/media/assets/{token}.png"):
            assert as_a.get(url.format(**world)).status_code == 200
    assert as_a.get(f"/annotate/annotations/{annotation_id}").status_code == 200

    with Session(committed_db) as session:
        before = database_fingerprint(session)
    answers = []
    for world in worlds:
        for method, path in annotator_routes:
            answer = as_b.request(method, path.format(**world), **_labels(path, csrf))
            answers.append((method, path, answer.status_code))
    assert len(answers) == 2 * len(annotator_routes) >= 20
    wrong = [f"{method} {path}: {status}" for method, path, status in answers if status != 404]
    assert not wrong, "\n".join(wrong)
    with Session(committed_db) as session:
        assert database_fingerprint(session) == before
        still_held = session.get(Assignment, held)
        assert still_held is not None and still_held.status == "leased"
