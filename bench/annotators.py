"""Simulated annotators for the workspace benchmark: each logs in through the login form and
labels items through the same HTML/htmx requests as the workspace's page, timing every one.

A simulated annotator is a thread that mostly sleeps (the think time) around blocking HTTP
calls, so that a hundred of them cost the server's machine little CPU of their own.
"""

from __future__ import annotations

import html
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.http_client import Client, HTTPError, Response

CLIENT_ID = re.compile(r'name="client_id" value="([^"]+)"')
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
ACTION = re.compile(r'action="(/annotate/items/\d+)" hx-post')
AHEAD = re.compile(r'data-ahead="([^"]+)"')
PREFETCH = re.compile(r"data-prefetch='([^']*)'")
WORKSPACE = 'id="workspace"'


@dataclass
class Timings:
    """Every annotator's figures, gathered under one lock."""

    submit: list[float] = field(default_factory=list)
    """Submit pressed -> the next item's workspace has arrived."""
    ahead: list[float] = field(default_factory=list)
    """Leasing the item after it (``/ahead``), where the submit's answer did not."""
    images: list[float] = field(default_factory=list)
    """Fetching every image of that item, one after the other."""
    cycle: list[float] = field(default_factory=list)
    """The three together: what one item costs the server, end to end."""
    cycles_of: dict[str, list[float]] = field(default_factory=dict)
    """Each annotator's whole cycles: whether some wait longer than others."""
    logins: list[float] = field(default_factory=list)
    login_statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)
    """The submission ids whose submit the client saw answered with the next item."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] += 1


class Annotator:
    """One rater's HTTP session."""

    def __init__(self, url: str, username: str, password: str, timings: Timings) -> None:
        self.client = Client(url, timeout=60)
        self.username = username
        self.password = password
        self.timings = timings
        self.csrf = ""

    def log_in(self, *, mistype_first: bool) -> None:
        """Through the login form, as a person does; ``mistype_first``: a wrong password
        first, then the right one once the throttle's Retry-After has passed."""
        page = self.client.get("/login")
        token = CSRF.search(page.text)
        assert token is not None, page.status_code
        attempts = ["wrong " + self.password, self.password] if mistype_first else [self.password]
        while attempts:
            password = attempts[0]
            started = time.perf_counter()
            response = self.client.post(
                "/login",
                data={"username": self.username, "password": password, "csrf_token": token[1]},
            )
            with self.timings.lock:
                self.timings.logins.append(time.perf_counter() - started)
                self.timings.login_statuses[response.status_code] += 1
            if response.status_code == 429:
                time.sleep(float(response.headers["retry-after"]))
                continue
            expected = 303 if password == self.password else 401
            if response.status_code != expected:
                self.timings.error(f"login answered {response.status_code}")
                time.sleep(1)
                continue
            attempts.pop(0)

    def open_study(self, study_id: int) -> str:
        """The study's page, then Start: the first item's workspace."""
        page = self.client.get(f"/annotate/studies/{study_id}")
        csrf = CSRF.search(page.text)
        assert csrf is not None, page.status_code
        self.csrf = csrf[1]
        response = self.client.post(
            f"/annotate/studies/{study_id}/next",
            headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
        )
        if response.status_code != 200:
            self.timings.error(f"next answered {response.status_code}")
            return ""
        return response.text

    def _submit(self, action: str, client_id: str) -> Response | None:
        """The htmx POST of the labels; a transport failure is retried once with the same
        submission id, as the workspace's own retry does (the first one stands)."""
        for _ in range(2):
            try:
                return self.client.post(
                    action,
                    headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
                    data={
                        "client_id": client_id,
                        "verdict": "no_miscompression",
                        "csrf_token": self.csrf,
                    },
                )
            except HTTPError as exc:
                self.timings.error(f"submit {type(exc).__name__}")
        return None

    def _prefetch(self, page: str) -> list[str] | None:
        """The next item's images, as the workspace's script finds them: named by the page
        (an answer of the workspace), or asked for (``/ahead``, a page opened by address)."""
        named = PREFETCH.search(page)
        if named is not None:
            return list(json.loads(html.unescape(named[1])))
        ahead = AHEAD.search(page)
        if ahead is None:
            return None
        reply = self.client.post(ahead[1], headers={"X-CSRF-Token": self.csrf})
        if reply.status_code != 200:
            self.timings.error(f"ahead answered {reply.status_code}")
            return None
        return list(reply.json()["urls"])

    def label(self, page: str) -> str:
        """Labels the item on ``page``; the next item's workspace ('' after an error, when
        the caller starts again from Start)."""
        client_id, action = CLIENT_ID.search(page), ACTION.search(page)
        if client_id is None or action is None:
            self.timings.error("workspace without its form")
            return ""
        started = time.perf_counter()
        response = self._submit(action[1], client_id[1])
        answered = time.perf_counter()
        if response is None or response.status_code != 200:
            self.timings.error(f"submit answered {response and response.status_code}")
            return ""
        leased = fetched = answered
        try:
            urls = self._prefetch(response.text)
            leased = time.perf_counter()
            for url in urls or []:
                image = self.client.get(url)
                if image.status_code != 200 or not image.content:
                    self.timings.error(f"image answered {image.status_code}")
            fetched = time.perf_counter()
        except HTTPError as exc:
            self.timings.error(f"ahead or image {type(exc).__name__}")
            return response.text
        with self.timings.lock:
            self.timings.accepted.append(client_id[1])
            self.timings.submit.append(answered - started)
            self.timings.ahead.append(leased - answered)
            self.timings.images.append(fetched - leased)
            self.timings.cycle.append(fetched - started)
            self.timings.cycles_of.setdefault(self.username, []).append(fetched - started)
        return response.text


def run_load(
    url: str,
    study_id: int,
    usernames: list[str],
    password: str,
    *,
    seconds: float,
    think_s: float,
    think_spread: float = 0.0,
    ramp_s: float = 0.0,
    mistyped_logins: int = 0,
) -> Timings:
    """Each annotator logs in (the first ``mistyped_logins`` of them mistype their password
    once), then labels items, looking at each for ``think_s`` (``think_spread``: a share of
    it, drawn anew for each item, added or taken away, as people take more or less time
    over an item; their submits then do not fall together) (0: as fast as the server
    answers, which measures a saturated server, not people). With ``ramp_s``, their logins
    are spread over that many seconds while those already in label, and everyone stops
    ``seconds`` after the first began; without, everyone labels for ``seconds`` once all
    have logged in."""
    timings = Timings()
    stop = [time.monotonic() + seconds]

    def start_together() -> None:
        stop[0] = time.monotonic() + seconds

    together = threading.Barrier(len(usernames), action=start_together) if not ramp_s else None

    def work(number: int, username: str) -> None:
        time.sleep(ramp_s * number / len(usernames))
        annotator = Annotator(url, username, password, timings)
        rng = random.Random(number)  # the same looks, run after run
        try:
            annotator.log_in(mistype_first=number < mistyped_logins)
            if together is not None:
                together.wait()
            page = ""
            while time.monotonic() < stop[0]:
                if WORKSPACE not in page:
                    page = annotator.open_study(study_id)
                    if WORKSPACE not in page:
                        break  # nothing left for this annotator
                time.sleep(think_s * (1 + think_spread * rng.uniform(-1, 1)))
                page = annotator.label(page)
        except (HTTPError, AssertionError, threading.BrokenBarrierError) as exc:
            # Recorded, and the others are let go rather than left waiting for this one.
            timings.error(f"session {type(exc).__name__}")
            if together is not None:
                together.abort()
        finally:
            annotator.client.close()

    threads = [threading.Thread(target=work, args=pair) for pair in enumerate(usernames)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings
