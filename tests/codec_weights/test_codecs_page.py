"""The codecs page: an admin picks a catalogue entry, a real worker fetches it from a
publisher on loopback with progress, and the page shows it verified. Requests only pick an
entry; a refused one changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.codec_weights import service
from app.codec_weights.models import WeightsFetch
from app.config import Settings, get_settings
from app.db import make_sessionmaker
from app.domain.roles import Role
from app.errors import Conflict
from tests.codec_weights.helpers import (
    METAGRAPH,
    Publisher,
    loopback_publisher,
    sha256,
    write_weights_catalogue,
)
from tests.conftest import database_fingerprint, login_new_admin
from tests.factories import make_user


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    """A loopback publisher of hific-lo, pinned in the test run's weights catalogue file."""
    settings = get_settings()
    with loopback_publisher() as publisher:
        publisher.files["hific-lo.metagraph"] = METAGRAPH
        write_weights_catalogue(
            settings.weights_catalogue,
            publishers={"tfci": publisher.url, "compressai": publisher.url},
            pins={"hific-lo.metagraph": sha256(METAGRAPH)},
        )
        try:
            yield publisher
        finally:
            settings.weights_catalogue.unlink()
            fetched = settings.weights_dir / "tfc_metagraphs" / "hific-lo.metagraph"
            fetched.unlink(missing_ok=True)


def test_an_admin_fetches_weights_that_a_worker_downloads_and_verifies(
    committed_client: TestClient,
    committed_db: Engine,
    publisher: Publisher,
    request: pytest.FixtureRequest,
) -> None:
    request.getfixturevalue("celery_worker_thread")
    csrf = login_new_admin(committed_client, committed_db)
    page = committed_client.get("/codecs")
    assert page.status_code == 200
    assert 'aria-label="Fetch hific"' in page.text and "bmshj2018-hyperprior" in page.text

    asked = committed_client.post(
        "/codecs/weights",
        data={"model": "hific", "metric": "", "quality": "lo", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert asked.status_code == 200, asked.text
    assert (
        asked.text.lstrip().startswith('<section id="weights"')
        and "hific-lo.metagraph" in asked.text
    )
    deadline = time.monotonic() + 60
    while True:
        with Session(committed_db) as session:
            job = session.scalars(select(WeightsFetch)).one()
            if job.status not in ("queued", "running") or time.monotonic() > deadline:
                break
        time.sleep(0.3)
    assert job.status == "done", job.error
    assert job.sha256 == sha256(METAGRAPH) and job.done_bytes == job.total_bytes == len(METAGRAPH)
    weights = get_settings().weights_dir / "tfc_metagraphs" / "hific-lo.metagraph"
    assert weights.read_bytes() == METAGRAPH
    shown = committed_client.get("/codecs", headers={"HX-Request": "true"})
    assert "done" in shown.text and job.sha256[:16] in shown.text
    assert "hx-trigger" not in shown.text  # nothing under way: the panel stops refreshing


def test_refused_fetches_say_why_and_change_nothing(
    client: TestClient, db: Session, publisher: Publisher
) -> None:
    from tests.conftest import login

    admin = make_user(db, Role.ADMIN)
    csrf = login(client, admin)
    db.commit()
    before = database_fingerprint(db)
    for form, status, reason in [
        ({"model": "hific", "quality": "mi"}, 422, "publishes no sha256 of hific-mi.metagraph"),
        ({"model": "mbt2018", "metric": "mse", "quality": "9"}, 422, "has no quality 9"),
        ({"model": "https://evil.example/x", "quality": "1"}, 422, "no published weights"),
    ]:
        answer = client.post(
            "/codecs/weights", data={**form, "csrf_token": csrf}, headers={"HX-Request": "true"}
        )
        assert answer.status_code == status, answer.text
        assert reason in answer.text
        assert "fetch-error" in answer.text
    assert database_fingerprint(db) == before
    assert publisher.requests == []


def test_a_fetch_asked_twice_is_refused_and_a_failed_one_says_why(
    committed_db: Engine, publisher: Publisher, tmp_path: Path
) -> None:
    publisher.files["hific-lo.metagraph"] = b"tampered"
    settings = Settings(
        var_dir=tmp_path, weights_catalogue=get_settings().weights_catalogue, secret_key="x"
    )
    with Session(committed_db, expire_on_commit=False) as session:
        admin = make_user(session, Role.ADMIN)
        job = service.request_fetch(
            session, settings, model="hific", metric="", quality="lo", actor=admin
        )
        with pytest.raises(Conflict, match="being fetched already"):
            service.request_fetch(
                session, settings, model="hific", metric="", quality="lo", actor=admin
            )
        session.info.pop("miscomp_jobs")  # this test runs the worker's step itself
        session.commit()
    assert service.run_fetch(make_sessionmaker(committed_db), settings, job.id) == "failed"
    with Session(committed_db) as session:
        failed = session.get(WeightsFetch, job.id)
        assert failed is not None and failed.error and "sha256" in failed.error
    assert not any((tmp_path / "weights").rglob("*.metagraph*"))
