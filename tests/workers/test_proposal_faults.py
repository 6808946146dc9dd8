"""Issue 18: a worker killed with SIGKILL while it proposes a study's crops. After a
restart the study opens whole: every item once, every pane's image stored."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import make_sessionmaker
from app.storage import LocalMediaStorage
from app.studies import proposals, service
from app.studies.models import Study, StudyAsset, StudyItem
from app.studies.schemas import StudyCreate
from tests.studies.helpers import finished_run
from tests.workers.helpers import start_worker, stop_process, wait_for

ITEMS = 160


def _crop_files(media: Path) -> int:
    folder = media / "crops"
    return sum(1 for _ in folder.rglob("*.png")) if folder.is_dir() else 0


def _crop(item: StudyItem) -> tuple[object, ...]:
    return (item.kind, item.image_id, item.x, item.y, item.size, item.position)


def _status(engine: Engine, study_id: int) -> str:
    with Session(engine) as session:
        return str(session.scalars(select(Study.status).where(Study.id == study_id)).one())


def test_a_worker_killed_while_proposing_leaves_the_study_to_open_whole(
    committed_db: Engine,
) -> None:
    run_id = finished_run(committed_db)  # coded in this process; the proposal is the worker's
    media = get_settings().media_root
    before = _crop_files(media)
    fields = {"run_ids": [run_id], "crop_sizes": [64, 128], "items": ITEMS, "seed": 7}
    with Session(committed_db, expire_on_commit=False) as session:
        study = service.create_study(
            session,
            StudyCreate.model_validate({"name": f"killed-{uuid.uuid4().hex[:6]}", **fields}),
            actor=None,
        )
        session.commit()  # queues the proposal on the broker
        study_id = study.id
    env = {**os.environ, "MISCOMP_TASK_VISIBILITY_TIMEOUT_S": "3"}
    first = start_worker(env)
    try:
        # The crops are written as they are rendered; the items only at the end.
        wait_for(lambda: _crop_files(media) > before, 120, "the first worker to render crops")
    finally:
        stop_process(first, signal.SIGKILL)
    assert _status(committed_db, study_id) == "proposing"
    second = start_worker(env)
    try:
        wait_for(lambda: _status(committed_db, study_id) != "proposing", 240, "the study to open")
    finally:
        stop_process(second, signal.SIGTERM)
    assert _status(committed_db, study_id) == "open"
    storage = LocalMediaStorage(media)
    # The same study proposed without interruption (in this process) proposes the same crops.
    with Session(committed_db, expire_on_commit=False) as session:
        twin = service.create_study(
            session,
            StudyCreate.model_validate({"name": f"twin-{uuid.uuid4().hex[:6]}", **fields}),
            actor=None,
        )
        session.info.pop("miscomp_jobs", None)
        session.commit()
    assert proposals.propose(make_sessionmaker(committed_db), storage, get_settings(), twin.id)
    with Session(committed_db) as session:
        items = session.scalars(select(StudyItem).where(StudyItem.study_id == study_id)).all()
        expected = session.scalars(select(StudyItem).where(StudyItem.study_id == twin.id)).all()
        assert sorted(_crop(i) for i in items) == sorted(_crop(i) for i in expected)
        positions = [item.position for item in items]
        assert sorted(positions) == list(range(len(items)))  # each item once
        assets = session.scalars(select(StudyAsset).where(StudyAsset.study_id == study_id)).all()
        assert {a.item_id for a in assets} == {item.id for item in items}
        assert session.scalar(
            select(func.count()).select_from(StudyAsset).where(StudyAsset.study_id == study_id)
        ) == sum(len(item.assets) for item in items)
        for asset in assets:
            assert storage.exists(asset.storage_key), asset.storage_key
