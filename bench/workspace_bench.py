"""The annotation workspace under load: how long each item takes, end to end.

A real web server (`miscomp serve`, uvicorn) on a throwaway PostgreSQL database serves a
blind k=3 study of 100,000 items (and, as the baseline measured in the same run, one of
1,000 items unless ``--baseline-items 0``). Simulated annotators (``bench/annotators.py``),
each with their own HTTP session, log in through the login form (one in five mistypes their
password once first), then label items as the workspace does and time each step of an
item's cycle: the submit (an htmx POST whose answer is the next item's workspace, which
leases the item after it and names its images), the lease of the item after it where the
answer did not (``/ahead``, which a page opened by its address asks for once shown) and
every image of that item, fetched one after the other. Each annotator looks at an item for
``--think`` seconds, give or take ``--think-spread`` of it. Afterwards the database is
checked: no item has more than k counted ratings, and every submit the clients saw accepted
is stored exactly once (by its submission id).

With `--browser`, one of the annotators is real Chromium (Debian's, driven by Playwright): it
times from pressing Enter to the next item's viewer having drawn every pane, while the other
annotators keep the server busy.

    .venv/bin/python bench/workspace_bench.py [--items 100000] [--baseline-items 1000]
        [--annotators 20] [--seconds 20] [--think 1] [--think-spread 0.5] [--ramp 0]
        [--workers 2] [--browser]
    .venv/bin/python bench/workspace_bench.py --annotators 100 --think 3 --seconds 600 \
        --ramp 60 --baseline-items 0

Prints the 50th, 95th and 99th percentiles of each step, errors, throughput, the server's
database connections at their peak and the checks.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

VAR = Path(tempfile.mkdtemp(prefix="miscomp-bench-workspace-"))
os.environ.setdefault("MISCOMP_VAR_DIR", str(VAR))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2 as httpx  # noqa: E402
import numpy as np  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bench.annotators import Timings, run_load  # noqa: E402
from bench.bulk import bulk_study, study_database  # noqa: E402

PASSWORD = "correct horse battery"
TOKEN_SETS = 50
"""Distinct image sets the items cycle through (each item names the files of one set)."""
PANES = ("original", "reconstruction", "jpeg", "thumbnail")


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


def _store_assets(factory: object, study_id: int) -> None:
    """Every item's own opaque image tokens (a token names the pane of one item, as the
    proposal step writes them), over 50 sets of files: 64-pixel panes and a 256-pixel
    thumbnail of noise. Written in SQL: 400,000 tokens for 100,000 items."""
    from app.config import get_settings
    from app.storage import artefact_key, media_storage

    storage = media_storage(get_settings())
    files = []
    for number in range(TOKEN_SETS):
        for index, pane in enumerate(PANES):
            data = _png(number * 10 + index, 256 if pane == "thumbnail" else 64)
            key = artefact_key("crops", data, ".png")
            storage.put(key, data)
            files.append({"set": number, "pane": pane, "key": key})
    with factory.begin() as session:  # type: ignore[attr-defined]
        session.execute(
            text("CREATE TEMPORARY TABLE bench_file (set int, pane text, key text) ON COMMIT DROP")
        )
        session.execute(text("INSERT INTO bench_file VALUES (:set, :pane, :key)"), files)
        session.execute(
            text(
                "INSERT INTO study_asset (token, study_id, item_id, storage_key) "
                "SELECT substr(md5(random()::text || i.id || f.pane), 1, 22), i.study_id, i.id, "
                "f.key FROM study_item i JOIN bench_file f ON f.set = i.position % :sets "
                "WHERE i.study_id = :study"
            ),
            {"sets": TOKEN_SETS, "study": study_id},
        )
        session.execute(
            text(
                "UPDATE study_item i SET assets = t.assets FROM (SELECT item_id, "
                "json_object_agg(f.pane, a.token) AS assets FROM study_asset a "
                "JOIN bench_file f ON f.key = a.storage_key WHERE a.study_id = :study "
                "GROUP BY item_id) t WHERE t.item_id = i.id"
            ),
            {"study": study_id},
        )
    # As autovacuum would have done by the time people label: the update above left a dead
    # version of every item.
    with factory.kw["bind"].connect() as conn:  # type: ignore[attr-defined]
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE study_item, study_asset")
        )


def _checks(factory: object, study_id: int, accepted: list[str]) -> list[str]:
    """No item with more than k counted ratings; every submit the clients saw accepted is
    stored exactly once, by its submission id (``queries.counted_ratings`` says which
    ratings count)."""
    from app.studies import queries
    from app.studies.models import Annotation, Study

    with factory.begin() as session:  # type: ignore[attr-defined]
        k = session.get(Study, study_id).raters_per_item
        per_item = Counter(r.item_id for r in queries.counted_ratings(session, study_id))
        stored = Counter(
            dict(
                session.execute(
                    select(Annotation.client_id, func.count())
                    .where(Annotation.study_id == study_id)
                    .group_by(Annotation.client_id)
                ).all()
            )
        )
    seen = Counter(accepted)
    over_k = sum(1 for n in per_item.values() if n > k)
    missing = sum(1 for c in seen if stored[c] == 0)
    doubled = sum(1 for c in seen if stored[c] > 1 or seen[c] > 1)
    unseen = sum(1 for c in stored if c not in seen)
    return [
        f"items with more than k={k} counted ratings: {over_k} "
        f"({len(per_item)} items rated, at most {max(per_item.values(), default=0)} each)",
        f"submits accepted by the clients: {len(accepted)}; annotation rows: "
        f"{sum(stored.values())}; accepted but not stored: {missing}; stored or accepted "
        f"more than once: {doubled}; stored without the client seeing it accepted: {unseen}",
    ]


class Connections(threading.Thread):
    """Samples the server's connections to its database twice a second: their peak says
    whether a process could have waited for its pool (10 + 20 overflow a process)."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        self.database = database
        self.peak = 0
        self.stopped = threading.Event()
        self.counting = threading.Event()
        """Cleared while the harness itself is connected (its checks)."""
        self.counting.set()

    def run(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
        )
        with self.engine.connect() as conn:
            while not self.stopped.wait(0.5):
                if self.counting.is_set():
                    found = int(conn.execute(query, {"db": self.database}).scalar_one())
                    self.peak = max(self.peak, found)
                conn.rollback()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children (the server's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        pending.extend(int(c) for c in children)
    return total


def _ms(values: list[float]) -> str:
    if not values:
        return "none"
    p50, p95, p99 = (_percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99))
    return f"p50 {p50:6.1f}  p95 {p95:6.1f}  p99 {p99:6.1f} ms"


def _report(items: int, timings: Timings, seconds: float, cpu: dict[str, float]) -> None:
    count = len(timings.cycle)
    print(f"  {items} items: {count} submits, {count / seconds:5.1f}/s")
    print(f"    submit -> next workspace   {_ms(timings.submit)}")
    print(f"    lease ahead                {_ms(timings.ahead)}")
    print(f"    its images                 {_ms(timings.images)}")
    print(f"    whole cycle                {_ms(timings.cycle)}")
    means = sorted(sum(c) / len(c) for c in timings.cycles_of.values() if c)
    if means:
        print(
            f"    annotators' mean cycles    fastest {means[0] * 1000:6.1f}  median "
            f"{means[len(means) // 2] * 1000:6.1f}  slowest {means[-1] * 1000:6.1f} ms"
        )
    print(f"    logins {dict(sorted(timings.login_statuses.items()))}: {_ms(timings.logins)}")
    print(f"    errors: {sum(timings.errors.values())} {dict(timings.errors)}")
    print(
        "    CPU seconds a second: "
        + ", ".join(f"{name} {value / seconds:.2f}" for name, value in cpu.items())
    )


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


def _browser_beside_load(
    base: str, items: int, study_id: int, usernames: list[str], args: argparse.Namespace
) -> None:
    others = threading.Thread(
        target=run_load,
        args=(base, study_id, usernames[1:], PASSWORD),
        kwargs={"seconds": args.seconds + 60, "think_s": args.think},
    )
    others.start()
    timings = _browser_run(base, f"bench-{items}", usernames[0], 40, args.think * 1000)
    others.join()
    print(
        f"  Chromium with {len(usernames) - 1} HTTP annotators beside it, {items} items: "
        f"Enter -> next item drawn, {_ms(timings)} ({len(timings)} items)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--baseline-items", type=int, default=1_000, help="0: none")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--browser", action="store_true")
    parser.add_argument(
        "--think", type=float, default=1.0, help="seconds each annotator looks at an item"
    )
    parser.add_argument(
        "--think-spread",
        type=float,
        default=0.5,
        help="share of --think drawn anew for each item and added or taken away (0.5: from "
        "half to one and a half times --think, the mean unchanged)",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="seconds over which the annotators log in while the first label (0: everyone "
        "logs in first, then all label for --seconds)",
    )
    parser.add_argument("--database", default="miscomp_bench_workspace")
    args = parser.parse_args()
    db = study_database(args.database, args.annotators, PASSWORD)
    url, engine, factory = db.url, db.engine, db.factory
    usernames = [name for _, name in db.annotators]
    sizes = [n for n in (args.baseline_items, args.items) if n]
    study_ids = []
    for items in sizes:
        started = time.perf_counter()
        study_id = bulk_study(
            factory, name=f"bench-{items}", items=items, image_id=db.image_id,
            taxonomy_id=db.taxonomy_id,
        )  # fmt: skip
        _store_assets(factory, study_id)
        study_ids.append(study_id)
        print(f"  study of {items} items built in {time.perf_counter() - started:.1f} s")

    port = _free_port()
    env = {**os.environ, "MISCOMP_DATABASE_URL": url, "MISCOMP_VAR_DIR": str(VAR)}
    log = (VAR / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers",
         str(args.workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    connections = Connections(args.database)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(
            f"{args.annotators} annotators for {args.seconds:.0f} s each run (logging in over "
            f"{args.ramp:g} s), each looking at an item for {args.think:g} s "
            f"(+/- {args.think_spread:.0%}), k=3, PostgreSQL, "
            f"uvicorn with {args.workers} workers"
        )
        engine.dispose()  # the harness holds no connection while the server is measured
        connections.start()
        p95s = []
        for items, study_id in zip(sizes, study_ids, strict=True):
            before = {"server": _cpu_seconds(server.pid), "clients": time.process_time()}
            mistyped = args.annotators // 5
            timings = run_load(
                base, study_id, usernames, PASSWORD, seconds=args.seconds, think_s=args.think,
                think_spread=args.think_spread,
                ramp_s=args.ramp, mistyped_logins=mistyped,
            )  # fmt: skip
            cpu = {
                "server": _cpu_seconds(server.pid) - before["server"],
                "clients": time.process_time() - before["clients"],
            }
            _report(items, timings, args.seconds, cpu)
            connections.counting.clear()
            for line in _checks(factory, study_id, timings.accepted):
                print(f"    {line}")
            engine.dispose()
            connections.counting.set()
            p95s.append(_percentile(timings.cycle, 0.95))
        if len(p95s) == 2:
            print(f"whole cycle p95, {sizes[1]} / {sizes[0]} items: {p95s[1] / p95s[0]:.2f}")
        connections.stopped.set()
        connections.join()
        log.flush()
        pool_errors = (VAR / "server.log").read_text(errors="replace").count("QueuePool limit")
        print(
            f"database connections of the server at their peak: {connections.peak} "
            f"(pools: {args.workers} x 30); pool timeouts in its log: {pool_errors}"
        )
        if args.browser:
            _browser_beside_load(base, sizes[-1], study_ids[-1], usernames, args)
    finally:
        connections.stopped.set()
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()


if __name__ == "__main__":
    main()
