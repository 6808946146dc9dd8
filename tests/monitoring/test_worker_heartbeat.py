"""A real Celery worker (its own process, on the test Redis) writes its heartbeat, and
``/metrics`` shows its last-seen time moving while it runs and standing still once stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.users import service as user_service
from tests.factories import make_user
from tests.monitoring.helpers import Samples, scrape, series
from tests.workers.helpers import stop_process, wait_for

BEAT_S = 0.5


def _workers(samples: Samples) -> dict[str, tuple[str, float]]:
    """worker name -> (queues, last-seen Unix time)."""
    name = "miscomp_worker_last_seen_timestamp_seconds"
    return {
        labels["worker"]: (labels["queues"], samples[(name, frozenset(labels.items()))])
        for labels in series(samples, name)
    }


def test_a_running_worker_beats_and_a_stopped_one_falls_silent(
    committed_db: Engine, committed_client: TestClient
) -> None:
    with Session(committed_db) as session:
        admin = make_user(session, Role.ADMIN)
        _, token = user_service.create_token(session, admin, "prometheus")
        session.commit()
    assert _workers(scrape(committed_client, token)) == {}
    env = {**os.environ, "MISCOMP_WORKER_HEARTBEAT_S": str(BEAT_S)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--queues=post,cpu", "--concurrency=1"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = wait_for(lambda: _workers(scrape(committed_client, token)), 120, "a first beat")
        [(name, (queues, seen))] = first.items()
        assert name.startswith("celery@")
        assert queues == "cpu,post"
        assert abs(seen - time.time()) < 60
        wait_for(
            lambda: _workers(scrape(committed_client, token))[name][1] > seen,
            30,
            "a later beat",
        )
    finally:
        stop_process(worker, signal.SIGTERM)
    last = _workers(scrape(committed_client, token))[name][1]
    time.sleep(4 * BEAT_S)
    assert _workers(scrape(committed_client, token))[name][1] == last
