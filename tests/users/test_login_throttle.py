"""Failed logins are limited without waiting: too early is 429 + Retry-After at once, nothing
holds a database connection, and nobody else's login is slowed by them."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

import httpx2 as httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Interval, event, func, literal, select, update
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope, Send

from app.auth import security
from app.config import Settings
from app.db import get_session, make_sessionmaker
from app.domain.roles import Role
from app.main import create_app
from app.users.models import LoginAttempt
from tests.conftest import csrf_of, run_async
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.servers import free_port

WRONG = "not the password"


def _attempt(client: TestClient, username: str, password: str, csrf: str) -> httpx.Response:
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf}
    )


def _app_with(db: Session, **limits: float) -> Iterator[TestClient]:
    """The app as the ``client`` fixture makes it, with other login limits."""
    application = create_app(Settings(**limits), sessionmaker=make_sessionmaker(db.get_bind()))

    def _test_session() -> Iterator[Session]:
        yield db
        db.commit()

    application.dependency_overrides[get_session] = _test_session
    with TestClient(application, follow_redirects=False) as client:
        yield client


@pytest.fixture
def slow_client(db: Session) -> Iterator[TestClient]:
    """Waits long enough that no retry in a test comes after them by chance."""
    yield from _app_with(db, login_delay_base_s=30, login_delay_max_s=60)


def test_an_early_retry_is_refused_at_once_with_retry_after(
    slow_client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.ADMIN)
    csrf = csrf_of(slow_client)
    assert _attempt(slow_client, user.username, WRONG, csrf).status_code == 401

    started = time.monotonic()
    refused = _attempt(slow_client, user.username, DEFAULT_PASSWORD, csrf)
    assert time.monotonic() - started < 5  # answered at once, not made to wait 30 s
    assert refused.status_code == 429
    assert 25 <= int(refused.headers["Retry-After"]) <= 30
    assert "Too many failed logins" in refused.text and "Log in" in refused.text
    assert f'value="{user.username}"' in refused.text  # the form comes back filled in
    assert slow_client.get("/api/me").status_code == 401
    # A refused attempt checks no password and is not counted: it cannot extend the wait.
    attempts = db.scalar(select(func.count()).where(LoginAttempt.username == user.username))
    assert attempts == 1


def _age_attempts(db: Session, username: str, seconds: float) -> None:
    """Moves the account's attempts into the past, instead of sleeping through the wait."""
    db.execute(
        update(LoginAttempt)
        .where(LoginAttempt.username == username)
        .values(
            created_at=LoginAttempt.created_at - literal(timedelta(seconds=seconds), Interval())
        )
    )


def test_the_wait_doubles_with_each_failure_and_a_success_ends_the_run(db: Session) -> None:
    user = make_user(db, Role.ADMIN)
    for client in _app_with(db, login_delay_base_s=10, login_delay_max_s=20):
        csrf = csrf_of(client)
        for wait_s in (10, 20, 20):  # 10 s after the first failure, doubled, at most 20 s
            assert _attempt(client, user.username, WRONG, csrf).status_code == 401
            refused = _attempt(client, user.username, WRONG, csrf)
            assert refused.status_code == 429
            assert wait_s - 5 <= int(refused.headers["Retry-After"]) <= wait_s
            _age_attempts(db, user.username, wait_s - 2)
            assert _attempt(client, user.username, WRONG, csrf).status_code == 429
            _age_attempts(db, user.username, 2)
        assert _attempt(client, user.username, DEFAULT_PASSWORD, csrf).status_code == 303
        # The success ended the run of failures: the next mistake waits 10 s again, not 20 s.
        other = TestClient(client.app, follow_redirects=False)
        other_csrf = csrf_of(other)
        assert _attempt(other, user.username, WRONG, other_csrf).status_code == 401
        _age_attempts(db, user.username, 10)
        assert _attempt(other, user.username, WRONG, other_csrf).status_code == 401


def test_someone_elses_failures_do_not_slow_a_correct_login_from_the_same_address(
    slow_client: TestClient, db: Session
) -> None:
    victim = make_user(db, Role.ADMIN)
    colleague = make_user(db, Role.ANNOTATOR)
    csrf = csrf_of(slow_client)
    for _ in range(5):
        _attempt(slow_client, victim.username, WRONG, csrf)
    assert _attempt(slow_client, victim.username, WRONG, csrf).status_code == 429

    colleague_browser = TestClient(slow_client.app, follow_redirects=False)
    started = time.monotonic()
    response = _attempt(
        colleague_browser, colleague.username, DEFAULT_PASSWORD, csrf_of(colleague_browser)
    )
    assert response.status_code == 303
    assert time.monotonic() - started < 5  # not the victim's 30 s


def test_one_address_spraying_many_usernames_is_capped(db: Session) -> None:
    user = make_user(db, Role.RESEARCHER)
    for client in _app_with(db, login_address_failure_cap=4):
        csrf = csrf_of(client)
        for n in range(4):
            assert _attempt(client, f"nobody{n}", WRONG, csrf).status_code == 401
        capped = _attempt(client, user.username, DEFAULT_PASSWORD, csrf)
        assert capped.status_code == 429
        assert 14 * 60 < int(capped.headers["Retry-After"]) <= 15 * 60


@dataclass
class LiveServer:
    url: str
    password_checks: int = 0
    checks_holding_a_connection: int = 0
    """Password checks made while their own request held a database connection."""


_request_number: ContextVar[int] = ContextVar("request_number", default=0)
"""Which request the code now running serves: anyio carries it into worker threads."""


@pytest.fixture
def live_server(committed_db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The app as deployed (its own engine and pool, ``make_engine``: 10 + 20 overflow) under
    uvicorn, with waits long enough that a flood stays over the limit. Every argon2 check is
    watched (the real one still runs) for a connection held by the request that makes it."""
    application = create_app(Settings(login_delay_base_s=30, login_delay_max_s=60))
    live = LiveServer(url="")
    # Connections are tied to requests, not threads: a worker thread may take the next
    # request while the last one's session is still being closed on another thread.
    holder_of: dict[int, int] = {}
    numbers = itertools.count(1)
    lock = threading.Lock()

    def checked_out(_connection: object, record: object, _proxy: object) -> None:
        with lock:
            holder_of[id(record)] = _request_number.get()

    def checked_in(_connection: object, record: object) -> None:
        with lock:
            holder_of.pop(id(record), None)

    real_verify = security.verify_password

    def watched_verify(password_hash: str, password: str) -> bool:
        request = _request_number.get()
        assert request, "a password check outside any request"
        with lock:
            live.password_checks += 1
            if request in holder_of.values():
                live.checks_holding_a_connection += 1
        return real_verify(password_hash, password)

    async def numbered(scope: Scope, receive: Receive, send: Send) -> None:
        token = _request_number.set(next(numbers))
        try:
            await application(scope, receive, send)
        finally:
            _request_number.reset(token)

    monkeypatch.setattr(security, "verify_password", watched_verify)
    event.listen(application.state.engine, "checkout", checked_out)
    event.listen(application.state.engine, "checkin", checked_in)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(numbered, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    live.url = f"http://127.0.0.1:{port}"
    yield live
    server.should_exit = True
    thread.join(timeout=20)


CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


async def _logged_in(url: str, username: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=url, timeout=60)
    page = await client.get("/login")
    match = CSRF_META.search(page.text)
    assert match is not None
    csrf = match.group(1)
    if username:
        response = await client.post(
            "/login", data={"username": username, "password": DEFAULT_PASSWORD, "csrf_token": csrf}
        )
        assert response.status_code == 303, response.text
    return client, csrf


async def _flood(url: str, victim: str, bystander: str, latecomer: str) -> dict[str, object]:
    attacker, csrf = await _logged_in(url, "")
    reader, _ = await _logged_in(url, bystander)
    latecomer_client, latecomer_csrf = await _logged_in(url, "")
    me_latencies: list[float] = []
    flooding = True

    async def guess() -> tuple[int, str | None, float]:
        started = time.monotonic()
        response = await attacker.post(
            "/login", data={"username": victim, "password": WRONG, "csrf_token": csrf}
        )
        return response.status_code, response.headers.get("retry-after"), time.monotonic() - started

    async def read_me() -> None:
        while flooding:
            started = time.monotonic()
            response = await reader.get("/api/me")
            assert response.status_code == 200, response.text
            me_latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.05)

    async def log_in_meanwhile() -> tuple[int, float]:
        await asyncio.sleep(0.2)
        started = time.monotonic()
        response = await latecomer_client.post(
            "/login",
            data={
                "username": latecomer,
                "password": DEFAULT_PASSWORD,
                "csrf_token": latecomer_csrf,
            },
        )
        return response.status_code, time.monotonic() - started

    reading = asyncio.create_task(read_me())
    started = time.monotonic()
    guesses, meanwhile = await asyncio.gather(
        asyncio.gather(*(guess() for _ in range(100))), log_in_meanwhile()
    )
    flood_s = time.monotonic() - started
    flooding = False
    await reading
    for client in (attacker, reader, latecomer_client):
        await client.aclose()
    return {"guesses": guesses, "meanwhile": meanwhile, "me": me_latencies, "flood_s": flood_s}


def test_a_flood_of_wrong_logins_neither_drains_the_pool_nor_slows_anyone_else(
    live_server: LiveServer, committed_db: Engine
) -> None:
    with Session(committed_db, expire_on_commit=False) as session:
        victim = make_user(session, Role.ADMIN)
        bystander = make_user(session, Role.RESEARCHER)
        latecomer = make_user(session, Role.ANNOTATOR)
        session.commit()
    outcome = run_async(
        _flood(live_server.url, victim.username, bystander.username, latecomer.username)
    )
    guesses: list[tuple[int, str | None, float]] = outcome["guesses"]  # type: ignore[assignment]
    statuses = [status for status, _, _ in guesses]
    assert set(statuses) <= {401, 429}, statuses  # never a 500 (QueuePool limit reached)
    assert statuses.count(429) >= 90  # only a guess or two got to check a password
    assert all(retry is not None and int(retry) >= 1 for s, retry, _ in guesses if s == 429)
    # No password was checked while its request held a connection, so the flood holds each
    # connection only for a few short queries and cannot keep the pool (10 + 20 overflow)
    # dry. Timing-independent, unlike the latencies below (how many connections are out at
    # the same moment depends on how the machine schedules 40 worker threads).
    assert live_server.password_checks >= 2  # the first guess and the latecomer at least
    assert live_server.checks_holding_a_connection == 0
    # Latencies on a machine shared by many test runs: what matters is that nothing waits on
    # the pool's 30 s timeout, as every request did before (15 to 30 s).
    assert outcome["flood_s"] < 25, outcome["flood_s"]
    me: list[float] = outcome["me"]  # type: ignore[assignment]
    assert me and max(me) < 15, me
    meanwhile_status, meanwhile_s = outcome["meanwhile"]  # type: ignore[misc]
    assert meanwhile_status == 303
    assert meanwhile_s < 15
