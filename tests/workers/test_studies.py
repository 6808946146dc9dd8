"""A study created through the API while its codec run is still coding: a real Celery worker
on Redis finishes the run, then proposes the study's crops, and the study opens."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.conftest import login_new_admin
from tests.workers.helpers import dataset_with_images, wait_for


def test_a_study_over_a_running_run_opens_when_the_run_is_done(
    committed_client: TestClient, committed_db: Engine, celery_worker_thread: None
) -> None:
    dataset_id = dataset_with_images(committed_db, 2, size=(256, 224))
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    run = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={"dataset_id": dataset_id, "codec": "miscomp-mbt-low", "params": {}},
    )
    assert run.status_code == 201, run.text
    study = committed_client.post(
        "/api/studies",
        headers=csrf,
        json={
            "name": "waits for its run",
            "run_ids": [run.json()["id"]],
            "crop_sizes": [64],
            "items": 10,
            "raters_per_item": 2,
        },
    )
    assert study.status_code == 201, study.text
    assert study.json()["status"] == "proposing"
    study_id = study.json()["id"]

    def opened() -> dict[str, object] | None:
        current = committed_client.get(f"/api/studies/{study_id}").json()
        return current if current["status"] != "proposing" else None

    current = wait_for(opened, 180, "the study to open")
    assert current["status"] == "open"
    assert committed_client.get(f"/api/runs/{run.json()['id']}").json()["status"] == "done"
    report = current["proposal_report"]
    assert report["items"]["random"] == 3 and report["items"]["control"] == 1
    # A good codec may leave fewer guided regions than the quota asks: reported, not padded.
    guided = report["items"]["guided"] + report["items"]["text"]
    assert guided + report["shortfall"]["guided"] == 6
    assert current["progress"]["items"] == 4 + guided
    page = committed_client.get(f"/studies/{study_id}")
    assert 'data-testid="study-status">open' in page.text
