"""Issue 18: Redis restarted, without its queues, while a run is queued, while it is coded and
while a study waits to be proposed. The sweep (``miscomp sweep``) sends the lost tasks again:
the run finishes with every result coded once and every artefact stored, the study opens with
each item once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.broker import sender
from app.codec_runs import service as run_service
from app.codec_runs.models import CodecResult, CodecRun
from app.codec_runs.schemas import RunCreate
from app.config import get_settings
from app.db import make_sessionmaker
from app.storage import LocalMediaStorage
from app.studies import service as study_service
from app.studies.models import Study, StudyItem
from app.studies.schemas import StudyCreate
from tests.private_redis import PrivateRedis
from tests.studies.helpers import finished_run
from tests.workers.helpers import (
    dataset_with_images,
    start_worker,
    stop_process,
    wait_for,
)

IMAGES = 6
ITEMS = 24


@pytest.fixture
def private_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    """This process, its workers and its sweep on a Redis of the test's own."""
    server = PrivateRedis()
    server.start()
    monkeypatch.setenv("MISCOMP_BROKER_URL", server.url)
    get_settings.cache_clear()
    sender.cache_clear()
    try:
        yield server
    finally:
        server.crash()
        monkeypatch.undo()
        get_settings.cache_clear()
        sender.cache_clear()


def _start_sweep(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "sweep"],
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _done_results(engine: Engine, run_id: int) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    CodecResult.run_id == run_id, CodecResult.status == "done"
                )
            )
            or 0
        )


def _statuses(engine: Engine, run_id: int, study_id: int) -> tuple[str, str]:
    with Session(engine) as session:
        run, study = session.get(CodecRun, run_id), session.get(Study, study_id)
        assert run is not None and study is not None
        return run.status, study.status


@pytest.mark.usefixtures("declared_codecs")
def test_a_restarted_redis_loses_no_work(
    committed_db: Engine, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    factory = make_sessionmaker(committed_db)
    finished = finished_run(committed_db)  # the study's run, coded in this process
    dataset_id = dataset_with_images(committed_db, IMAGES)
    with factory.begin() as session:
        run = run_service.create_run(
            session,
            RunCreate(
                dataset_id=dataset_id,
                codec="external",
                params={"name": "slow-cwebp", "quality": 1},  # a second per image
                match_jpeg=True,
                maps=[],
            ),
            actor=None,
        )
        study = study_service.create_study(
            session,
            StudyCreate.model_validate(
                {
                    "name": f"restart-{uuid.uuid4().hex[:6]}",
                    "run_ids": [finished],
                    "crop_sizes": [64],
                    "items": ITEMS,
                    "seed": 3,
                }
            ),
            actor=None,
        )
        run_id, study_id = run.id, study.id
    private_redis.restart()  # while everything is queued and no worker has started

    env = {
        **os.environ,
        "MISCOMP_BROKER_URL": private_redis.url,
        "MISCOMP_SWEEP_INTERVAL_S": "1",
        "MISCOMP_SWEEP_GRACE_S": "3",
    }
    worker = start_worker(env)
    sweep = _start_sweep(env, tmp_path / "sweep.log")
    try:
        wait_for(lambda: _done_results(committed_db, run_id) >= 2, 120, "two results coded")
        private_redis.restart()  # while the worker codes one and the rest wait in the queue
        wait_for(
            lambda: _statuses(committed_db, run_id, study_id) == ("done", "open"),
            180,
            "the run to finish and the study to open",
        )
    finally:
        stop_process(sweep, signal.SIGTERM)
        stop_process(worker, signal.SIGTERM)
    assert "sent again" in (tmp_path / "sweep.log").read_text()

    storage = LocalMediaStorage(get_settings().media_root)
    with Session(committed_db) as session:
        results = session.scalars(select(CodecResult).where(CodecResult.run_id == run_id)).all()
        assert len(results) == IMAGES
        assert {r.status for r in results} == {"done"}
        assert [r.attempts for r in results] == [1] * IMAGES  # each coded once
        for result in results:
            assert result.recon_key and storage.exists(result.recon_key)
            assert result.jpeg_key and storage.exists(result.jpeg_key)
        items = session.scalars(select(StudyItem).where(StudyItem.study_id == study_id)).all()
        assert len(items) == ITEMS
        assert sorted(item.position for item in items) == list(range(ITEMS))
        crops = {(i.kind, i.image_id, i.x, i.y, i.size) for i in items}
        assert len(crops) == ITEMS
