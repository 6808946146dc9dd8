"""``GET /metrics``: request figures by route template, queue lengths, the broker's state and
rows by status, parsed back with prometheus_client's parser."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.broker import sender
from app.config import get_settings
from app.db import make_sessionmaker
from app.domain.roles import Role, TokenScope
from app.exports.task_names import EXPORT_STUDY
from app.main import create_app
from app.users import service as user_service
from tests.conftest import login, use_test_session
from tests.factories import make_dataset, make_result, make_run, make_user, store_image
from tests.monitoring.helpers import scrape, series, value
from tests.private_redis import PrivateRedis


def _token(db: Session, role: Role = Role.ADMIN, scope: TokenScope = TokenScope.FULL) -> str:
    user = make_user(db, role)
    _, secret = user_service.create_token(db, user, "prometheus", scope=scope)
    db.commit()
    return secret


def test_a_request_counts_once_under_its_route_template(client: TestClient, db: Session) -> None:
    token = _token(db)
    dataset = make_dataset(db)
    db.commit()
    before = scrape(client, token)
    answer = client.get(f"/api/datasets/{dataset.id}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert client.get("/no/such/page/4711").status_code == 404
    after = scrape(client, token)
    route = "/api/datasets/{dataset_id}"
    for name, labels in (
        ("miscomp_http_requests_total", {"method": "GET", "route": route, "status_class": "2xx"}),
        ("miscomp_http_request_duration_seconds_count", {"method": "GET", "route": route}),
        (
            "miscomp_http_requests_total",
            {"method": "GET", "route": "unmatched", "status_class": "4xx"},
        ),
    ):
        assert value(after, name, **labels) == value(before, name, **labels) + 1, (name, labels)
    # The previous scrape is counted too, under its own template.
    metrics = {"method": "GET", "route": "/metrics", "status_class": "2xx"}
    assert value(after, "miscomp_http_requests_total", **metrics) >= 1
    routes = {labels["route"] for labels in series(after, "miscomp_http_requests_total")}
    assert f"/api/datasets/{dataset.id}" not in routes
    assert not any("4711" in r for r in routes)


def test_rows_by_status_follow_the_database(client: TestClient, db: Session) -> None:
    from PIL import Image

    token = _token(db)
    dataset = make_dataset(db)
    image = store_image(db, dataset.id, Image.new("RGB", (8, 8), "red"), "red.png")
    before = scrape(client, token)
    run = make_run(db, dataset.id, status="running")
    make_result(db, run, image, status="encoding")
    db.commit()
    after = scrape(client, token)
    assert value(after, "miscomp_codec_runs", status="running") == (
        value(before, "miscomp_codec_runs", status="running") + 1
    )
    assert value(after, "miscomp_codec_results", status="encoding") == (
        value(before, "miscomp_codec_results", status="encoding") + 1
    )


def test_a_queued_message_shows_in_its_queue(
    client: TestClient, db: Session, redis_client: redis.Redis
) -> None:
    token = _token(db)
    before = scrape(client, token)
    assert value(before, "miscomp_broker_up") == 1
    assert value(before, "miscomp_queue_messages", queue="post") == 0
    # No worker listens on this test's broker: the message stays queued.
    sender().send_task(EXPORT_STUDY.name, args=[999_999], queue=EXPORT_STUDY.queue)
    after = scrape(client, token)
    assert value(after, "miscomp_queue_messages", queue="post") == 1
    assert value(after, "miscomp_queue_messages", queue="cpu") == 0


@pytest.fixture
def own_redis() -> Iterator[PrivateRedis]:
    """A Redis server of this test's own, to stop while the application uses it."""
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.crash()


def test_a_stopped_broker_is_a_figure_not_an_error(db: Session, own_redis: PrivateRedis) -> None:
    settings = get_settings().model_copy(update={"broker_url": own_redis.url})
    application = create_app(settings, sessionmaker=make_sessionmaker(db.get_bind()))
    use_test_session(application, db)
    token = _token(db)
    with TestClient(application) as client:
        assert value(scrape(client, token), "miscomp_broker_up") == 1
        own_redis.crash()
        started = time.monotonic()
        stopped = scrape(client, token)  # 200, or scrape() fails
        assert time.monotonic() - started < 15
    assert value(stopped, "miscomp_broker_up") == 0
    assert series(stopped, "miscomp_queue_messages") == []
    assert (
        value(
            stopped,
            "miscomp_http_requests_total",
            method="GET",
            route="/metrics",
            status_class="2xx",
        )
        >= 1
    )


def test_only_admins_read_the_metrics(client: TestClient, db: Session) -> None:
    assert client.get("/metrics").status_code == 303  # a browser: to the login page
    bad = client.get("/metrics", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    annotator = _token(db, Role.ANNOTATOR)
    researcher = _token(db, Role.RESEARCHER)
    for secret in (annotator, researcher):
        refused = client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 403
        assert "miscomp_" not in refused.text
    scrape(client, _token(db, scope=TokenScope.READ))  # a read-only token suffices
    admin = make_user(db, Role.ADMIN)
    db.commit()
    login(client, admin)
    page = client.get("/metrics")
    assert page.status_code == 200
    assert "miscomp_broker_up" in page.text
