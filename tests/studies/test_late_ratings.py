"""A rating that arrives after its lease expired, when other raters completed the item
meanwhile, is kept and marked late, is never one of the item's k counted ratings, and is shown
to researchers as late (study page, adjudication page and API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import app as cli
from app.db import utcnow
from app.domain.roles import Role
from app.studies import queries
from app.studies.models import Annotation, Assignment, StudyItem
from app.users import service as user_service
from app.users.models import User
from tests.factories import make_user
from tests.studies.helpers import open_study_with_items

SHAPE = {"verdict": "miscompression", "categories": ["shape"]}
NONE = {"verdict": "no_miscompression"}


def _clients(
    client: TestClient, engine: Engine, roles: list[Role]
) -> list[tuple[User, TestClient]]:
    """A user of each role, each with a client of their own that sends their API token."""
    with Session(engine, expire_on_commit=False) as session:
        users = [make_user(session, role) for role in roles]
        secrets = [user_service.create_token(session, user, "late")[1] for user in users]
        session.commit()
    return [
        (user, TestClient(client.app, headers={"Authorization": f"Bearer {secret}"}))
        for user, secret in zip(users, secrets, strict=True)
    ]


def _lease(client: TestClient, study_id: int) -> int:
    answer = client.post(f"/api/studies/{study_id}/next")
    assert answer.status_code == 200 and answer.json() is not None, answer.text
    return int(answer.json()["assignment_id"])


def _rate(
    client: TestClient, assignment_id: int, name: str, labels: dict[str, Any]
) -> dict[str, Any]:
    answer = client.post(
        f"/api/assignments/{assignment_id}/annotation",
        json={"client_id": f"late-test-{name}", **labels},
    )
    assert answer.status_code == 201, answer.text
    stored: dict[str, Any] = answer.json()
    return stored


def test_a_late_rating_is_kept_marked_late_left_uncounted_and_shown_as_late(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id, (item_id,) = open_study_with_items(committed_db, 1, raters_per_item=2, lease_s=60)
    (a, as_a), (b, as_b), (c, as_c), (_, as_researcher) = _clients(
        committed_client, committed_db, [Role.ANNOTATOR] * 3 + [Role.RESEARCHER]
    )
    late_lease = _lease(as_a, study_id)
    # A walks away: the lease's time runs out (moved into the past rather than waited for).
    with Session(committed_db) as session:
        session.execute(
            update(Assignment)
            .where(Assignment.id == late_lease)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    # B's request gives the expired place back; B and C then complete the item (k = 2).
    _rate(as_b, _lease(as_b, study_id), "b", SHAPE)
    _rate(as_c, _lease(as_c, study_id), "c", NONE)

    stored = _rate(as_a, late_lease, "a", SHAPE)
    assert stored["late"] is True
    with Session(committed_db) as session:
        kept = session.scalars(select(Annotation).where(Annotation.user_id == a.id)).one()
        assert kept.late and kept.verdict == "miscompression" and kept.item_id == item_id
        item = session.get(StudyItem, item_id)
        assert item is not None and (item.active_count, item.done_count) == (2, 2)  # still k
        counted = queries.counted_ratings(session, study_id)
    assert sorted(r.rater_id for r in counted) == sorted([b.id, c.id])
    (mine,) = as_a.get("/api/annotations/mine").json()
    assert mine["late"] is True

    study = as_researcher.get(f"/api/studies/{study_id}").json()
    assert (study["progress"]["ratings_done"], study["progress"]["late"]) == (2, 1)
    shown = CliRunner().invoke(cli, ["studies", "show", str(study_id)])
    assert "2/2 ratings, 1 late (kept, not counted), 1/1 items complete" in shown.output
    page = as_researcher.get(f"/studies/{study_id}")
    assert page.status_code == 200
    assert 'data-testid="late-ratings">1 late rating kept but not counted' in page.text
    (queued,) = as_researcher.get(f"/api/studies/{study_id}/adjudication").json()
    assert sorted(r["rater"] for r in queued["ratings"]) == sorted([b.username, c.username])
    assert [r["rater"] for r in queued["late_ratings"]] == [a.username]
    queue_page = as_researcher.get(f"/studies/{study_id}/adjudication")
    assert 'data-testid="late-count">(+1 late, not counted)' in queue_page.text
    item_page = as_researcher.get(f"/studies/{study_id}/adjudication/{item_id}")
    assert item_page.status_code == 200
    (late_row,) = item_page.text.split('data-testid="late-rating"')[1:]
    assert f"<td>{a.username} <strong>late</strong></td>" in late_row
