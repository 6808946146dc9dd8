"""The qualification round: a rater of a study that has one answers a fixed draw of its control
items, blind and told right or wrong after each, before any real item; the web and the API
give no real item until the round is passed; the answers are never annotations; a researcher
sees each rater's result and can let them try again (audited)."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditLog
from app.domain.roles import Role
from app.studies import qualification, queries, service
from app.studies.models import (
    Annotation,
    Assignment,
    QualificationAnswer,
    Study,
    StudyAsset,
    StudyItem,
)
from app.studies.schemas import default_methods
from app.users import service as user_service
from app.users.models import User
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import blind_study, finished_run

WRONG = {"no_miscompression": "miscompression", "miscompression": "no_miscompression"}


def _question(engine: Engine, study_id: int, user_id: int) -> tuple[int, StudyItem]:
    """The rater's current question: its number and its item (as the test knows, not the rater)."""
    with Session(engine, expire_on_commit=False) as session:
        study = session.get(Study, study_id)
        user = session.get(User, user_id)
        assert study is not None and user is not None
        asked = qualification.current_question(session, study, user)
        assert asked is not None
        return asked.number, asked.item


def _answer(client: TestClient, csrf: str, study_id: int, number: int, verdict: str) -> str:
    """Answer through the form; the text of the feedback page it leads to."""
    sent = client.post(
        f"/annotate/studies/{study_id}/qualification",
        data={"number": str(number), "verdict": verdict, "csrf_token": csrf},
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].endswith(f"/qualification?answered={number}")
    return unescape(re.sub(r"<[^>]+>", "", client.get(sent.headers["location"]).text))


def _counts(engine: Engine, study_id: int) -> tuple[int, int, int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Assignment)) or 0,
            session.scalar(select(func.count()).select_from(Annotation)) or 0,
            session.scalar(
                select(func.coalesce(func.sum(StudyItem.active_count), 0)).where(
                    StudyItem.study_id == study_id
                )
            )
            or 0,
            session.scalar(select(func.count()).select_from(QualificationAnswer)) or 0,
        )


def test_a_rater_passes_the_qualification_round_before_real_items(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id = blind_study(
        committed_db,
        finished_run(committed_db),
        methods=["random"],
        quotas={"random": 0.5, "control": 0.5},
        planted_controls=True,
        qualification_items=2,
        qualification_pass=1.0,
    )
    with Session(committed_db, expire_on_commit=False) as session:
        rater = make_user(session, Role.ANNOTATOR)
        other = make_user(session, Role.ANNOTATOR)
        researcher = make_user(session, Role.RESEARCHER)
        _, secret = user_service.create_token(session, rater, "script")
        _, other_secret = user_service.create_token(session, other, "script")
        session.commit()
    web = committed_client
    csrf = login(web, rater)
    api = TestClient(web.app, headers={"Authorization": f"Bearer {secret}"})

    # No real item on either path before the round is answered.
    refused = api.post(f"/api/studies/{study_id}/next")
    assert refused.status_code == 409
    assert "answer the qualification round" in refused.json()["detail"]
    started = web.post(f"/annotate/studies/{study_id}/next", data={"csrf_token": csrf})
    assert started.status_code == 303
    assert started.headers["location"] == f"/annotate/studies/{study_id}/qualification"
    assert "qualification round" in web.get(f"/annotate/studies/{study_id}").text

    # The question is blind: panes by letter, nothing says which is the control's pane.
    number, item = _question(committed_db, study_id, rater.id)
    page = web.get(f"/annotate/studies/{study_id}/qualification")
    assert page.status_code == 200
    assert "Question 1 of 2" in page.text
    assert 'data-label="A"' in page.text and 'data-label="B"' in page.text
    for word in ("reconstruction", "jpeg", "webp", "planted", "identity", "control_"):
        assert word not in page.text.lower()
    # Its images are the rater's to see; another annotator's and a control not drawn are not.
    assert web.get(f"/media/assets/{item.assets['original']}.png").status_code == 200
    as_other = TestClient(web.app, headers={"Authorization": f"Bearer {other_secret}"})
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        drawn = qualification.question(session, study, rater, 2).item.id
        undrawn = session.scalar(
            select(StudyAsset.token)
            .join(StudyItem, StudyItem.id == StudyAsset.item_id)
            .where(
                StudyItem.study_id == study_id,
                StudyItem.kind.in_(service.CONTROL_ANSWERS),
                StudyItem.id.not_in([item.id, drawn]),
            )
            .limit(1)
        )
    other_draw = _question(committed_db, study_id, other.id)[1].id
    if item.id != other_draw:
        assert as_other.get(f"/media/assets/{item.assets['original']}.png").status_code == 404
    assert undrawn is not None
    assert web.get(f"/media/assets/{undrawn}.png").status_code == 404

    # A refused answer changes nothing and says why.
    before = _counts(committed_db, study_id)
    blank = web.post(
        f"/annotate/studies/{study_id}/qualification",
        data={"number": "1", "verdict": "", "csrf_token": csrf},
    )
    assert blank.status_code == 422
    assert "choose a verdict" in blank.text
    skipped_ahead = web.post(
        f"/annotate/studies/{study_id}/qualification",
        data={"number": "2", "verdict": "unsure", "csrf_token": csrf},
    )
    assert skipped_ahead.status_code == 422
    assert "answer question 1 first" in skipped_ahead.text
    assert _counts(committed_db, study_id) == before

    # Wrong, then told so with the expected verdict and why; a double click counts once.
    expected = service.CONTROL_ANSWERS[item.kind]
    told = _answer(web, csrf, study_id, number, WRONG[expected])
    assert "Not right." in told
    assert f"the expected verdict is {expected.replace('_', ' ')}" in told
    assert qualification.REASONS[item.kind] in told
    assert "Next question" in told
    _answer(web, csrf, study_id, number, expected)
    assert _counts(committed_db, study_id)[3] == 1
    number, item = _question(committed_db, study_id, rater.id)
    assert number == 2
    told = _answer(web, csrf, study_id, number, service.CONTROL_ANSWERS[item.kind])
    assert "Right." in told
    assert "You did not pass the qualification round: 1 of 2 right, 2 needed" in told

    # Failed: still no real item, and the answers are no annotations, leases or counts.
    refused = api.post(f"/api/studies/{study_id}/next")
    assert refused.status_code == 409
    assert "did not pass" in refused.json()["detail"]
    assert _counts(committed_db, study_id) == (0, 0, 0, 2)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        assert queries.counted_ratings(session, study_id) == []
        assert service.rater_progress(session, study) == []

    # The researcher sees the result and lets the rater try again.
    researcher_client = TestClient(web.app, follow_redirects=False)
    researcher_csrf = login(researcher_client, researcher)
    detail = unescape(researcher_client.get(f"/studies/{study_id}").text)
    assert "2 control items with feedback before real items; 100.0 % right to pass" in detail
    row = re.search(rf'data-testid="qualification-{rater.username}">(.*?)</tr>', detail, re.S)
    assert row is not None and "failed" in row.group(1) and "1 (2 needed)" in row.group(1)
    reset = researcher_client.post(
        f"/studies/{study_id}/qualification/reset",
        data={"user_id": str(rater.id), "csrf_token": researcher_csrf},
    )
    assert reset.status_code == 303
    again = researcher_client.post(
        f"/studies/{study_id}/qualification/reset",
        data={"user_id": str(rater.id), "csrf_token": researcher_csrf},
    )
    assert again.status_code == 404
    assert "no qualification answers to reset" in again.text
    with Session(committed_db) as session:
        kept = list(session.scalars(select(QualificationAnswer)))
        assert len(kept) == 2 and all(a.reset_at is not None for a in kept)
        audited = session.scalar(
            select(func.count()).where(
                AuditLog.entity_type == "qualification_answer", AuditLog.action == "update"
            )
        )
        assert audited == 2

    # A new attempt, answered right: the real items open, on the web and the API.
    for expected_number in (1, 2):
        number, item = _question(committed_db, study_id, rater.id)
        assert number == expected_number
        told = _answer(web, csrf, study_id, number, service.CONTROL_ANSWERS[item.kind])
        assert "Right." in told
    assert "You passed the qualification round: 2 of 2 right" in told
    real = web.post(f"/annotate/studies/{study_id}/next", data={"csrf_token": csrf})
    assert real.status_code == 303
    assert real.headers["location"].startswith("/annotate/items/")
    lease = api.post(f"/api/studies/{study_id}/next")
    assert lease.status_code == 200 and lease.json() is not None
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        (result,) = qualification.raters(session, study)
        assert (result.standing.attempt, result.standing.outcome.value) == (2, "passed")
        assert result.resets == 1


def test_a_study_refuses_more_qualification_items_than_it_has_controls(
    client: TestClient, db: Session
) -> None:
    researcher = make_user(db, Role.RESEARCHER)
    csrf = login(client, researcher)
    page = client.post(
        "/studies",
        data={
            "csrf_token": csrf,
            "name": "with a qualification round",
            "run_ids": ["1"],
            "crop_sizes": ["64"],
            "methods": default_methods(),
            "panes": ["original", "reconstruction"],
            "items": "20",
            "quota_guided": "60",
            "quota_random": "30",
            "quota_control": "10",
            "qualification_items": "5",
            "qualification_pass": "80",
        },
    )
    assert page.status_code == 422
    text = unescape(page.text)
    assert "the qualification round asks for 5 control items, but the study will have only 2" in (
        text
    )
    assert 'name="qualification_items" min="0" max="1000" value="5"' in text
    assert db.scalar(select(func.count()).select_from(Study)) == 0
