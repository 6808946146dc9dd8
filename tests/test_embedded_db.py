"""The embedded database (SQLite, `make demo`): a transaction that reads and then writes
while another process commits must wait for it, not fail with "database is locked"."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from app.db import make_engine


def test_a_read_then_write_waits_for_a_concurrent_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'embedded.sqlite'}")
    with engine.begin() as setup:
        setup.execute(text("CREATE TABLE login (n INTEGER)"))
    other = make_engine(f"sqlite:///{tmp_path / 'embedded.sqlite'}")  # the worker's process
    written = threading.Event()

    def worker_commits() -> None:
        with other.begin() as connection:
            connection.execute(text("INSERT INTO login VALUES (1)"))
        written.set()

    with engine.begin() as request:
        assert request.execute(text("SELECT count(*) FROM login")).scalar() == 0
        worker = threading.Thread(target=worker_commits)
        worker.start()
        worker.join(timeout=1)  # the worker waits for this transaction's lock
        assert not written.is_set()
        request.execute(text("INSERT INTO login VALUES (2)"))
    worker.join(timeout=30)
    assert written.is_set()
    with engine.connect() as check:
        assert check.execute(text("SELECT n FROM login ORDER BY rowid")).scalars().all() == [2, 1]
    engine.dispose()
    other.dispose()
