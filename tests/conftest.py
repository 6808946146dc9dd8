"""Test fixtures: a real PostgreSQL database migrated once per run, a savepoint per test, and a
real Redis database index for the Celery broker.

Settings are read from the environment at first use, so they are set here before anything
from ``app`` is imported.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_VAR = Path(tempfile.mkdtemp(prefix=f"miscomp-test-{_WORKER}-"))
PG_ADMIN_URL = os.environ.get(
    "MISCOMP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEST_DB = f"miscomp_test_{_WORKER}"
TEST_DB_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{TEST_DB}"
# Each pytest-xdist worker (gw0, gw1, ...) has a database index of its own, counted down from
# 15, so that the Celery workers of parallel tests never take each other's tasks.
_REDIS_INDEX = 15 - int(_WORKER[2:]) if re.fullmatch(r"gw\d+", _WORKER) else 15
TEST_REDIS_URL = os.environ.get("MISCOMP_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_REDIS_INDEX}")

os.environ.update(
    {
        "MISCOMP_VAR_DIR": str(_VAR),
        "MISCOMP_DATABASE_URL": TEST_DB_URL,
        "MISCOMP_BROKER_URL": TEST_REDIS_URL,
        "MISCOMP_MEDIA_ROOT": str(_VAR / "media"),
        "MISCOMP_MAX_IMAGE_PIXELS": str(20_000_000),
        "MISCOMP_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024),
        "MISCOMP_LOGIN_DELAY_BASE_S": "0.2",
        "MISCOMP_LOGIN_DELAY_MAX_S": "1.0",
        # Hypothesis (under schemathesis) keeps its constants cache in ./.hypothesis otherwise.
        "HYPOTHESIS_STORAGE_DIRECTORY": str(_VAR / "hypothesis"),
    }
)

import pytest  # noqa: E402
import redis  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import install_session_listeners  # noqa: E402
from app.db import get_session, make_engine, make_sessionmaker  # noqa: E402
from app.domain.roles import Role  # noqa: E402
from app.main import ROUTERS, create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import Base  # noqa: E402
from app.users.models import User  # noqa: E402
from tests.demo_site import DemoSite, run_demo_site  # noqa: E402
from tests.factories import DEFAULT_PASSWORD, make_user  # noqa: E402

pytest_plugins = [
    "tests.s3",  # the S3-compatible server of the object-storage tests
    "tests.browser_fixtures",  # Chromium, for the browser tests and the fault tests' pages
    "tests.workers.helpers",  # declared_codecs: the operator's slow command-line codec
]

PROJECT = Path(__file__).resolve().parent.parent
WRITABLE = ("var/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", "node_modules/", ".venv/")
"""Where a test run may leave files in the checkout (besides __pycache__ folders)."""


def checkout_changes() -> set[str]:
    """Paths git reports as changed, new or ignored in the checkout, outside WRITABLE; empty
    where the project is not a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--ignored", "-z"],
            cwd=PROJECT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return set()
    paths = {entry[3:] for entry in listed.split("\0") if len(entry) > 3}
    return {
        path for path in paths
        if not path.startswith(WRITABLE) and "__pycache__/" not in path
        and ".egg-info/" not in path and not path.startswith("static/vendor/")
    }  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def no_stray_files() -> Iterator[None]:
    """Tests and the processes they start write only under var/ or temporary folders: a file
    a run leaves anywhere else in the checkout fails it (kombu's filesystem broker once wrote
    its exchange tables into ./control)."""
    before = checkout_changes()
    yield
    strays = sorted(checkout_changes() - before)
    assert not strays, f"the test run left files outside var/ and temporary folders: {strays}"


def _recreate_database() -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": TEST_DB},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEST_DB}"'))
        conn.execute(text(f'CREATE DATABASE "{TEST_DB}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    _recreate_database()
    upgrade(TEST_DB_URL)
    install_session_listeners()
    engine = make_engine(TEST_DB_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back: each test starts clean."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def app(db: Session, redis_client: redis.Redis) -> FastAPI:
    application = create_app(sessionmaker=make_sessionmaker(db.get_bind()))
    use_test_session(application, db)
    return application


def use_test_session(application: FastAPI, db: Session) -> None:
    """Every request of ``application`` works in the test's session (rolled back after it)."""

    def _test_session() -> Iterator[Session]:
        try:
            yield db
            db.commit()
        except Exception:
            db.rollback()
            raise

    application.dependency_overrides[get_session] = _test_session


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as test_client:
        yield test_client


CSRF_PATTERN = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_of(client: TestClient) -> str:
    page = client.get("/login")
    match = CSRF_PATTERN.search(page.text)
    if match is None:
        raise AssertionError("no CSRF token on the login page")
    return match.group(1)


def login(client: TestClient, user: User, password: str = DEFAULT_PASSWORD) -> str:
    """Log in by the form, as a browser does; returns the session's CSRF token."""
    token = csrf_of(client)
    response = client.post(
        "/login", data={"username": user.username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    page = client.get("/account/tokens")
    match = CSRF_PATTERN.search(page.text)
    assert match is not None
    return match.group(1)


@pytest.fixture
def committed_db(engine: Engine, redis_client: redis.Redis) -> Iterator[Engine]:
    """For tests where another process or thread (a Celery worker, a browser) must see the
    data: everything is really committed, and every table is emptied afterwards."""
    yield engine
    empty_every_table(engine)


def empty_every_table(engine: Engine) -> None:
    """Delete every row that tests committed, and restart every id sequence at 1."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def committed_client(committed_db: Engine) -> Iterator[TestClient]:
    """A client of the app as deployed: each request commits for real (see committed_db)."""
    application = create_app(sessionmaker=make_sessionmaker(committed_db))
    with TestClient(application, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def celery_worker_thread(committed_db: Engine) -> Iterator[None]:
    """A real Celery worker consuming the test Redis broker, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from workers.celery_app import celery_app

    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
        queues=["cpu", "gpu", "post"],
    ):
        yield


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    yield from run_demo_site(tmp_path_factory.mktemp("demo-var"))


T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end on a thread of its own: once the browser tests ran,
    Playwright's sync API keeps an event loop on the main thread, where asyncio.run refuses
    to start."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def app_routes() -> list[tuple[str, str]]:
    """(method, path) of every route the application serves, sorted."""
    return sorted(
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    )


def login_new_user(client: TestClient, engine: Engine, role: Role) -> str:
    """Commit a new user of ``role`` and log the client in as them; returns the CSRF
    token."""
    with Session(engine, expire_on_commit=False) as session:
        user = make_user(session, role)
        session.commit()
    return login(client, user)


def login_new_admin(client: TestClient, engine: Engine) -> str:
    """Commit a new admin and log the client in as them; returns the CSRF token."""
    return login_new_user(client, engine, Role.ADMIN)


def wait_for_job(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """A job (an export, an audit) as the API at ``url`` shows it once a worker has ended
    it: neither queued nor running (two minutes at most)."""
    deadline = time.monotonic() + 120
    while True:
        shown = client.get(url, headers=headers).json()
        if shown["status"] not in ("queued", "running"):
            return dict(shown)
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


BOOKKEEPING_COLUMNS = ("last_seen_at", "last_used_at")
"""Written by reading requests too (a session's or token's last use): left out of
``database_fingerprint``."""


def database_fingerprint(session: Session) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows (bookkeeping columns left out):
    equal before and after a request that changed nothing, unequal after any insert, update
    or delete."""
    without = "".join(f" - '{column}'" for column in BOOKKEEPING_COLUMNS)
    fingerprint = {}
    for table in Base.metadata.sorted_tables:
        count, digest = session.execute(
            text(
                f"SELECT count(*), md5(coalesce(string_agg((to_jsonb(t){without})::text, '|'"
                f" ORDER BY (to_jsonb(t){without})::text), '')) FROM \"{table.name}\" t"
            )
        ).one()
        fingerprint[table.name] = (count, digest)
    return fingerprint
