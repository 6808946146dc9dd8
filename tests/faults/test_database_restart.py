"""PostgreSQL restarted while 20 annotators submit (issue 18, "Faults").

A real web server (`miscomp serve`) on a PostgreSQL server of the test's own; 20 annotators
log in through the login form and label a blind k=3 study, 16 through the workspace's htmx
routes and 4 through the JSON API, each submission under its own idempotency key (the
workspace's ``client_id``). Midway the database server stops (a crash, ``-m immediate``, or a
clean shutdown, ``-m fast``) and starts again a few seconds later. What people depend on:

- a submission during the outage fails visibly: 503 with Retry-After and the reason in plain
  words (the page's alert, the API's ``detail``), never a 500 or a traceback;
- the same submission, sent again with the same key, succeeds once the database is back;
- afterwards every submission a client saw accepted is stored exactly once, no item has more
  than k counted ratings, and the web server went on by itself (the same process, no restart).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.main import DATABASE_UNAVAILABLE
from app.studies.models import Annotation, Assignment, StudyItem
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.faults.conftest import web_server
from tests.private_postgres import PrivatePostgres, StopMode
from tests.studies.helpers import open_study_with_items

pytestmark = pytest.mark.timeout(90)

ANNOTATORS = 20
THROUGH_API = 4
K = 3
OUTAGE_S = 3.0
RETRY_PAUSE_S = 0.25
"""How long a client waits before sending a failed submission again (the server asks for
Retry-After seconds; the test is impatient, which also hammers the server during the outage)."""
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
CLIENT_ID = re.compile(r'name="client_id" value="([^"]+)"')
ACTION = re.compile(r'action="(/annotate/items/\d+)" hx-post')


@dataclass
class Outage:
    """When the database was down, as the test's clock saw it (monotonic seconds)."""

    began: float = float("inf")
    ended: float = float("inf")

    def overlaps(self, started: float, finished: float) -> bool:
        return started <= self.ended and finished >= self.began


@dataclass
class Ledger:
    """What the clients saw, shared by their threads."""

    outage: Outage = field(default_factory=Outage)
    accepted: list[tuple[str, str, float]] = field(default_factory=list)
    """(username, submission id, when accepted)"""
    refused: list[tuple[str, int]] = field(default_factory=list)
    """(username, status) of each answer that was not a success"""
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


class Client:
    """One annotator's HTTP session, logged in by the login form, as a browser is."""

    def __init__(self, url: str, username: str, ledger: Ledger) -> None:
        self.username = username
        self.ledger = ledger
        self.http = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
        token = CSRF.search(self.http.get("/login").text)
        assert token is not None
        login = {"username": username, "password": DEFAULT_PASSWORD, "csrf_token": token.group(1)}
        assert self.http.post("/login", data=login).status_code == 303
        csrf = CSRF.search(self.http.get("/account/tokens").text)
        assert csrf is not None
        self.csrf = csrf.group(1)

    def send(
        self,
        method: str,
        path: str,
        *,
        ok: int,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        json: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The request, sent again (the same body, so the same idempotency key) after every
        refusal that says the database is unavailable, until it succeeds. Anything else is
        recorded as a problem."""
        headers = {"X-CSRF-Token": self.csrf, **(headers or {})}
        deadline = time.monotonic() + 60
        while True:
            started = time.monotonic()
            try:
                answer = self.http.request(method, path, headers=headers, data=data, json=json)
            except httpx.HTTPError as exc:
                self.ledger.problem(f"{self.username}: no answer to {path}: {exc!r}")
                raise
            finished = time.monotonic()
            if answer.status_code == ok:
                return answer
            with self.ledger.lock:
                self.ledger.refused.append((self.username, answer.status_code))
            self._check_refusal(path, answer, started, finished)
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} still refused after 60 s")
            time.sleep(RETRY_PAUSE_S)

    def _check_refusal(
        self, path: str, answer: httpx.Response, started: float, finished: float
    ) -> None:
        where = f"{self.username}: {path} answered {answer.status_code}"
        if answer.status_code != 503:
            self.ledger.problem(f"{where}: {answer.text[:300]}")
        if not self.ledger.outage.overlaps(started, finished):
            self.ledger.problem(f"{where} while the database was up")
        if answer.headers.get("Retry-After") != "5":
            self.ledger.problem(f"{where} without Retry-After")
        if "Traceback" in answer.text or "Internal Server Error" in answer.text:
            self.ledger.problem(f"{where} with a traceback")
        if path.startswith("/api/"):
            said = answer.json().get("detail") if "json" in answer.headers["content-type"] else None
        else:
            alert = re.search(r'<p class="error" role="alert">([^<]*)</p>', answer.text)
            said = alert.group(1) if alert else None
        if said != DATABASE_UNAVAILABLE:
            self.ledger.problem(f"{where} saying {said!r} instead of the plain reason")

    def accepted(self, client_id: str) -> None:
        with self.ledger.lock:
            self.ledger.accepted.append((self.username, client_id, time.monotonic()))


def label_in_workspace(client: Client, study_id: int, stop: threading.Event) -> None:
    """Labels items as the workspace does: each answer is the next item's workspace."""
    first = client.send("POST", f"/annotate/studies/{study_id}/next", ok=303)
    page = client.send("GET", first.headers["location"], ok=200).text
    while not stop.is_set() and 'id="workspace"' in page:
        client_id, action = CLIENT_ID.search(page), ACTION.search(page)
        assert client_id is not None and action is not None
        form = {"client_id": client_id.group(1), "verdict": "no_miscompression"}
        answer = client.send(
            "POST", action.group(1), ok=200, headers={"HX-Request": "true"}, data=form
        )
        client.accepted(client_id.group(1))
        page = answer.text
        time.sleep(0.05)


def label_through_api(client: Client, study_id: int, stop: threading.Event) -> None:
    """Labels items as a script does: the next item, then its annotation by a key of its own."""
    while not stop.is_set():
        lease = client.send("POST", f"/api/studies/{study_id}/next", ok=200).json()
        if lease is None:
            return
        client_id = secrets.token_urlsafe(16)
        client.send(
            "POST",
            f"/api/assignments/{lease['assignment_id']}/annotation",
            ok=201,
            json={"client_id": client_id, "verdict": "unsure"},
        )
        client.accepted(client_id)
        time.sleep(0.05)


def _wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize("mode", ["immediate", "fast"])
def test_submissions_during_a_database_restart_fail_visibly_and_are_stored_once(
    private_pg: PrivatePostgres, fault_database: Engine, mode: StopMode
) -> None:
    study_id, _ = open_study_with_items(fault_database, 400, raters_per_item=K)
    with Session(fault_database) as session:
        usernames = [make_user(session, Role.ANNOTATOR).username for _ in range(ANNOTATORS)]
        session.commit()
    ledger = Ledger()
    stop = threading.Event()
    failures: list[BaseException] = []

    with web_server(fault_database) as server:

        def annotate(number: int, username: str) -> None:
            try:
                client = Client(server.url, username, ledger)
                work = label_through_api if number < THROUGH_API else label_in_workspace
                work(client, study_id, stop)
            except BaseException as exc:  # reported by the test, not lost in the thread
                failures.append(exc)

        threads = [threading.Thread(target=annotate, args=(n, u)) for n, u in enumerate(usernames)]
        for thread in threads:
            thread.start()
        everyone = set(usernames)

        def labelled_by(since: float) -> set[str]:
            with ledger.lock:
                return {user for user, _, at in ledger.accepted if at > since}

        # Everyone logged in and labelling; then the outage; then everyone labelling again.
        _wait_until(lambda: labelled_by(0) == everyone or failures, 60, "everyone labelling")
        ledger.outage.began = time.monotonic()
        private_pg.stop(mode)
        time.sleep(OUTAGE_S)
        private_pg.start()
        ledger.outage.ended = time.monotonic()
        _wait_until(
            lambda: labelled_by(ledger.outage.ended) == everyone or failures, 30, "recovery"
        )
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert not failures, failures
        assert ledger.problems == [], ledger.problems[:10]

        # The outage was seen, as 503s only, by everyone, and each refused request was then
        # sent again until it went through (``Client.send``; the threads ended cleanly).
        statuses = Counter(status for _, status in ledger.refused)
        assert set(statuses) == {503}, statuses
        assert {user for user, _ in ledger.refused} == everyone  # each met the outage

        # The web server went on by itself: the same process, answering.
        assert server.process.poll() is None
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        log = server.log_text()
        assert "Traceback" not in log
        assert '" 200 ' in log  # the access log is on (``web_server``): a 500 would show
        assert '" 500 ' not in log
        assert "answered 503" in log  # each one is logged for the operator, in one line

    with Session(fault_database) as session:
        stored = Counter(session.scalars(select(Annotation.client_id)))
        per_rating = Counter(session.execute(select(Annotation.item_id, Annotation.user_id)).all())
        counted = dict(
            session.execute(
                select(Annotation.item_id, func.count())
                .where(Annotation.late.is_(False))
                .group_by(Annotation.item_id)
            ).all()
        )
        items = session.execute(
            select(StudyItem.id, StudyItem.done_count, StudyItem.active_count).where(
                StudyItem.study_id == study_id
            )
        ).all()
        done = session.scalar(
            select(func.count()).where(Assignment.study_id == study_id, Assignment.status == "done")
        )
    accepted = Counter(client_id for _, client_id, _ in ledger.accepted)
    assert set(accepted.values()) == {1}
    assert stored == accepted  # every accepted submission once, nothing else
    assert set(per_rating.values()) == {1}
    assert done == len(accepted)
    assert max(counted.values()) <= K
    for item_id, done_count, active_count in items:
        assert done_count == counted.get(item_id, 0) <= K
        assert active_count <= K
