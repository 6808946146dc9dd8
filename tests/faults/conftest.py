"""Faults injected for real: a PostgreSQL server of the tests' own (tests/private_postgres.py),
stopped and started under a real web server (`miscomp serve`) while people work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app import install_session_listeners
from app.db import make_engine
from app.migrate import upgrade
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.servers import free_port, wait_until_answering

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def fault_database(private_pg: PrivatePostgres) -> Iterator[Engine]:
    """A migrated database of this test's own on the private server (left running after)."""
    if not private_pg.running:
        private_pg.start()
    url = private_pg.create_database(f"miscomp_faults_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    install_session_listeners()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    if not private_pg.running:  # a test that failed during its outage
        private_pg.start()


@dataclass(frozen=True)
class WebServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def web_server(engine: Engine) -> Iterator[WebServer]:
    """`miscomp serve` (uvicorn, one process) on a free port, on ``engine``'s database; the
    rest of its settings (media, secret key) are the tests' own."""
    url = engine.url.render_as_string(hide_password=False)
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="miscomp-faults-web-")) / "web.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
                "--access-log",
            ],
            cwd=PROJECT,
            env={**os.environ, "MISCOMP_DATABASE_URL": url},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = WebServer(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_answering(f"{server.url}/healthz", process, log=server.log_text)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(log.parent, ignore_errors=True)
