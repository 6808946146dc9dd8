"""The annotation workspace under load: how long until the next item is there after a submit.

A real web server (`miscomp serve`, uvicorn) on a throwaway PostgreSQL database serves a
blind k=3 study of 100,000 items, and, as the baseline measured in the same run, one of 1,000
items. 20 annotators work at once, each with their own HTTP session: they submit labels as
the workspace does (an htmx POST) and time the answer, which is the next item's workspace.
Once an item is shown, the browser leases the item after it and fetches its images (asked
for by the page, off the way to showing it), so the next item is interactive when its
workspace arrives; the simulated annotators do the same, timed apart.

With `--browser`, one of the annotators is real Chromium (Debian's, driven by Playwright): it
times from pressing Enter to the next item's viewer having drawn every pane, while the other
annotators keep the server busy.

    .venv/bin/python bench/workspace_bench.py [--items 100000] [--annotators 20] [--seconds 20]
        [--workers 2] [--browser]

Prints median and 95th-percentile latencies and their ratio to the 1,000-item baseline.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

VAR = Path(tempfile.mkdtemp(prefix="miscomp-bench-workspace-"))
os.environ.setdefault("MISCOMP_VAR_DIR", str(VAR))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2 as httpx  # noqa: E402
import numpy as np  # noqa: E402

from bench.bulk import bulk_study, study_database  # noqa: E402

PASSWORD = "correct horse battery"
TOKEN_SETS = 50
"""Distinct image sets the items cycle through (each item names the files of one set)."""
PANES = ("original", "reconstruction", "jpeg", "thumbnail")
CLIENT_ID = re.compile(r'name="client_id" value="([^"]+)"')


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _png(seed: int, size: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _token_sets() -> list[dict[str, str]]:
    import secrets

    return [{pane: secrets.token_urlsafe(16) for pane in PANES} for _ in range(TOKEN_SETS)]


def _store_assets(factory: object, study_id: int, token_sets: list[dict[str, str]]) -> None:
    """The files behind the tokens: 64-pixel panes and a 256-pixel thumbnail of noise."""
    from app.config import get_settings
    from app.storage import artefact_key, media_storage
    from app.studies.models import StudyAsset

    storage = media_storage(get_settings())
    with factory.begin() as session:  # type: ignore[attr-defined]
        for number, tokens in enumerate(token_sets):
            for index, (pane, token) in enumerate(tokens.items()):
                data = _png(number * 10 + index, 256 if pane == "thumbnail" else 64)
                key = artefact_key("crops", data, ".png")
                storage.put(key, data)
                session.add(StudyAsset(token=token, study_id=study_id, storage_key=key))


def _log_in(client: httpx.Client, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 303, response.text
    account = client.get("/account/tokens")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', account.text)
    assert csrf is not None
    return csrf.group(1)


class Annotator:
    """One rater's HTTP session, submitting as the workspace does."""

    def __init__(self, url: str, username: str) -> None:
        self.client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
        self.csrf = _log_in(self.client, username)

    def first_item(self, study_id: int) -> str:
        response = self.client.post(
            f"/annotate/studies/{study_id}/next", headers={"X-CSRF-Token": self.csrf}
        )
        assert response.status_code == 303, response.text
        return self.client.get(response.headers["location"]).text

    def submit(self, page: str) -> tuple[str, float, float]:
        """Labels the item on ``page`` as the workspace does; (the next item's page, seconds
        until it arrived, seconds then spent leasing the item after it and fetching that
        one's images, which the browser does while the rater looks)."""
        client_id = CLIENT_ID.search(page)
        action = re.search(r'action="(/annotate/items/\d+)" hx-post', page)
        assert client_id is not None
        assert action is not None
        started = time.perf_counter()
        response = self.client.post(
            action.group(1),
            headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
            data={
                "client_id": client_id.group(1),
                "verdict": "no_miscompression",
                "csrf_token": self.csrf,
            },
        )
        answered = time.perf_counter() - started
        assert response.status_code == 200, (response.status_code, response.text[:300])
        started = time.perf_counter()
        ahead = re.search(r'data-ahead="([^"]+)"', response.text)
        if ahead is not None:
            urls = self.client.post(ahead.group(1), headers={"X-CSRF-Token": self.csrf})
            for url in urls.json()["urls"]:
                assert self.client.get(url).status_code == 200
        return response.text, answered, time.perf_counter() - started


def _load(
    url: str, study_id: int, usernames: list[str], seconds: float, think_s: float
) -> tuple[list[float], list[float]]:
    """Each annotator labels items for ``seconds``, looking at each for ``think_s`` (0: as
    fast as the server answers, which measures a saturated server, not people)."""
    answers: list[float] = []
    images: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(username: str) -> None:
        annotator = Annotator(url, username)
        page = annotator.first_item(study_id)
        while time.monotonic() < stop and 'id="workspace"' in page:
            time.sleep(think_s)
            page, answered, fetched = annotator.submit(page)
            with lock:
                answers.append(answered)
                images.append(fetched)

    threads = [threading.Thread(target=work, args=(u,)) for u in usernames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, images


def _browser_run(
    url: str, study_name: str, username: str, submits: int, think_ms: float
) -> list[float]:
    """Chromium: Enter pressed -> the next item's viewer has drawn every pane."""
    from playwright.sync_api import sync_playwright

    ready = "() => window.miscompViewer && window.miscompViewer.state().ready"
    timings = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{url}/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{url}/annotate")
        page.get_by_role("row", name=study_name).get_by_role("button").click()
        page.wait_for_function(ready)
        for _ in range(submits):
            # The rater looks while the next item's images arrive in the cache.
            page.wait_for_function(
                "() => document.getElementById('workspace').dataset.prefetched !== undefined"
            )
            page.wait_for_timeout(think_ms)
            before = page.evaluate("() => document.getElementById('workspace').dataset.item")
            page.keyboard.press("n")
            started = time.perf_counter()
            page.keyboard.press("Enter")
            page.wait_for_function(
                f"() => document.getElementById('workspace').dataset.item !== '{before}'"
                " && document.getElementById('workspace').dataset.started"
            )
            page.wait_for_function(ready)
            page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
            timings.append(time.perf_counter() - started)
        browser.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--baseline-items", type=int, default=1_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument(
        "--think-ms", type=float, default=1000, help="how long each annotator looks at an item"
    )
    args = parser.parse_args()
    db = study_database("miscomp_bench_workspace", args.annotators, PASSWORD)
    url, engine, factory = db.url, db.engine, db.factory
    usernames = [name for _, name in db.annotators]
    sizes = (args.baseline_items, args.items)
    study_ids = []
    for items in sizes:
        started = time.perf_counter()
        token_sets = _token_sets()
        study_id = bulk_study(
            factory,
            name=f"bench-{items}",
            items=items,
            image_id=db.image_id,
            taxonomy_id=db.taxonomy_id,
            assets=lambda p, sets=token_sets: sets[p % TOKEN_SETS],  # type: ignore[misc]
        )
        _store_assets(factory, study_id, token_sets)
        study_ids.append(study_id)
        print(f"  study of {items} items built in {time.perf_counter() - started:.1f} s")

    port = _free_port()
    env = {**os.environ, "MISCOMP_DATABASE_URL": url, "MISCOMP_VAR_DIR": str(VAR)}
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers",
         str(args.workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(
            f"{args.annotators} annotators for {args.seconds:.0f} s each run, each looking at an "
            f"item for {args.think_ms:.0f} ms, k=3, PostgreSQL, uvicorn with {args.workers} workers"
        )
        figures = {}
        for items, study_id in zip(sizes, study_ids, strict=True):
            answers, images = _load(base, study_id, usernames, args.seconds, args.think_ms / 1000)
            p50, p95 = statistics.median(answers) * 1000, _percentile(answers, 0.95) * 1000
            figures[items] = (p50, p95)
            print(
                f"  {items:7d} items: next item's workspace median {p50:6.1f} ms, p95 {p95:6.1f} "
                f"ms ({len(answers)} submits, {len(answers) / args.seconds:5.1f}/s); then leasing "
                f"the one after and fetching its images: median "
                f"{statistics.median(images) * 1000:5.1f} ms"
            )
        (b50, b95), (l50, l95) = figures[sizes[0]], figures[sizes[1]]
        print(f"ratio {sizes[1]} / {sizes[0]} items: median {l50 / b50:.2f}, p95 {l95 / b95:.2f}")
        if args.browser:
            study_id = study_ids[1]
            others = threading.Thread(
                target=_load,
                args=(base, study_id, usernames[1:], args.seconds + 60, args.think_ms / 1000),
            )
            others.start()
            timings = _browser_run(
                base, f"bench-{sizes[1]}", usernames[0], submits=40, think_ms=args.think_ms
            )
            others.join()
            print(
                f"  Chromium with {len(usernames) - 1} HTTP annotators beside it, "
                f"{sizes[1]} items: Enter -> next item drawn, median "
                f"{statistics.median(timings) * 1000:.1f} ms, p95 "
                f"{_percentile(timings, 0.95) * 1000:.1f} ms ({len(timings)} items)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()


if __name__ == "__main__":
    main()
