"""Researchers create and follow studies in the browser's forms."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.studies.models import Study
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import finished_run


def _form(run_id: int, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "name": "signs and plates",
        "run_ids": [str(run_id)],
        "instructions": "Look for **digits**.",
        "crop_sizes": ["64", "128"],
        "methods": ["guided", "text", "random"],
        "items": "30",
        "quota_guided": "60",
        "quota_random": "30",
        "quota_control": "10",
        "raters_per_item": "3",
        "per_rater_cap": "",
        "lease_min": "10",
        "blind": "true",
        "panes": ["original", "reconstruction", "jpeg"],
        "seed": "1",
        "region_iou": "0.3",
    }
    form.update(changes)
    return form


def test_a_researcher_creates_a_study_and_mistakes_keep_the_form(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    csrf = login(committed_client, researcher)
    page = committed_client.get("/studies/new")
    assert page.status_code == 200 and f'value="{run_id}"' in page.text
    wrong = committed_client.post(
        "/studies", data={**_form(run_id, quota_control="30"), "csrf_token": csrf}
    )
    assert wrong.status_code == 422
    assert "sum to 1" in wrong.text and 'value="signs and plates"' in wrong.text
    no_original = committed_client.post(
        "/studies", data={**_form(run_id, panes=["reconstruction"]), "csrf_token": csrf}
    )
    assert no_original.status_code == 422 and "original and the reconstruction" in no_original.text
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 0
    created = committed_client.post("/studies", data={**_form(run_id), "csrf_token": csrf})
    assert created.status_code == 303
    detail = committed_client.get(created.headers["location"])
    assert 'data-testid="study-status">proposing' in detail.text
    with Session(committed_db) as session:
        study = session.scalar(select(Study))
        assert study is not None
        assert (study.lease_s, study.crop_sizes, study.blind) == (600, [64, 128], True)
        assert study.region_iou == 0.3
        assert study.quotas == {"guided": 0.6, "random": 0.3, "control": 0.1}
    listed = committed_client.get("/studies")
    assert "signs and plates" in listed.text
    again = committed_client.post("/studies", data={**_form(run_id), "csrf_token": csrf})
    assert again.status_code == 409 and "exists already" in again.text
