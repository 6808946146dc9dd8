"""The embedded database (SQLite, `make demo`): a web request that reads and then writes
while a worker commits waits for it instead of failing with "database is locked"; a worker's
long read (a study's proposal renders for minutes) holds no lock that would stall the web."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, text

from app.db import make_engine


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'embedded.sqlite'}"
    setup = make_engine(url)
    with setup.begin() as connection:
        connection.execute(text("CREATE TABLE login (n INTEGER)"))
    setup.dispose()
    return url


def _commit_in_thread(engine: Engine, value: int, done: threading.Event) -> threading.Thread:
    def commit() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO login VALUES (:n)"), {"n": value})
        done.set()

    thread = threading.Thread(target=commit)
    thread.start()
    return thread


def test_a_web_request_that_reads_then_writes_waits_for_a_worker(tmp_path: Path) -> None:
    url = _database(tmp_path)
    web, worker = make_engine(url, lock_on_begin=True), make_engine(url)
    written = threading.Event()
    with web.begin() as request:
        assert request.execute(text("SELECT count(*) FROM login")).scalar() == 0
        thread = _commit_in_thread(worker, 1, written)
        thread.join(timeout=1)  # the worker waits for this request's lock
        assert not written.is_set()
        request.execute(text("INSERT INTO login VALUES (2)"))
    thread.join(timeout=30)
    assert written.is_set()
    with web.connect() as check:
        assert check.execute(text("SELECT n FROM login ORDER BY rowid")).scalars().all() == [2, 1]
    web.dispose()
    worker.dispose()


def test_a_workers_long_read_does_not_hold_back_the_web(tmp_path: Path) -> None:
    url = _database(tmp_path)
    web, worker = make_engine(url, lock_on_begin=True), make_engine(url)
    written = threading.Event()
    with worker.begin() as proposing:
        assert proposing.execute(text("SELECT count(*) FROM login")).scalar() == 0
        thread = _commit_in_thread(web, 1, written)
        thread.join(timeout=10)
        assert written.is_set()  # the web committed while the worker was still reading
    web.dispose()
    worker.dispose()
