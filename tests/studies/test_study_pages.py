"""Researchers create and follow studies in the browser's forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecRun
from app.datasets.models import Dataset
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


def _researcher(client: TestClient, engine: Engine) -> str:
    with Session(engine, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    return login(client, researcher)


def test_the_form_shows_the_items_default_and_each_runs_dataset_and_crops(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    with Session(committed_db) as session:
        run = session.get(CodecRun, run_id)
        assert run is not None
        dataset = session.get(Dataset, run.dataset_id)
        assert dataset is not None
    _researcher(committed_client, committed_db)
    page = committed_client.get("/studies/new")
    assert page.status_code == 200
    assert '<input type="number" name="items" min="1" required value="300">' in page.text
    assert "built-in method" not in page.text
    listed = re.search(r'<label data-testid="run-choice">(.*?)</label>', page.text, re.S)
    assert listed is not None
    assert f"run {run_id}: jpeg" in listed.group(1)
    assert f"dataset “{dataset.name}”, 2 results" in listed.group(1)
    # The test run's two images, 512 x 384 and 480 x 320: (512 - 256 + 1) x (384 - 256 + 1)
    # plus (480 - 256 + 1) x (320 - 256 + 1) distinct crops of 256 pixels.
    assert f"{257 * 129 + 225 * 65:,} of 256 px" in page.text


def test_items_beyond_the_runs_or_left_empty_are_refused_in_plain_words(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    csrf = _researcher(committed_client, committed_db)
    offered = 257 * 129 + 225 * 65  # crops of 256 pixels in the run's two images
    too_many = committed_client.post(
        "/studies",
        data={**_form(run_id, crop_sizes=["256"], items=str(offered + 1)), "csrf_token": csrf},
    )
    assert too_many.status_code == 422
    assert f"only {offered} distinct crops of 256 pixels" in too_many.text
    assert f'value="{offered + 1}"' in too_many.text
    assert 'value="signs and plates"' in too_many.text
    empty = committed_client.post("/studies", data={**_form(run_id, items=""), "csrf_token": csrf})
    assert empty.status_code == 422
    assert "items: say how many items the study should propose" in empty.text
    assert 'value="signs and plates"' in empty.text
    zero = committed_client.post("/studies", data={**_form(run_id, items="0"), "csrf_token": csrf})
    assert zero.status_code == 422
    assert "items: must be at least 1" in zero.text
    assert 'name="items" min="1" required value="0"' in zero.text
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 0
    enough = committed_client.post(
        "/studies",
        data={**_form(run_id, crop_sizes=["256"], items=str(offered)), "csrf_token": csrf},
    )
    assert enough.status_code == 303
