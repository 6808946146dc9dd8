"""Assignment under load: how long "next item" takes with many items and annotators at once.

20 annotator threads (each with its own database session) take the next item of a study and
rate it, for a fixed time, on a study of 100,000 items and, as the baseline measured in the
same run, on a study of 1,000 items. Prints the latency of next_item (median and 95th
percentile), the ratings per second, and checks that no item got more than k ratings.

    .venv/bin/python bench/assignment_bench.py [--items 100000] [--annotators 20] [--seconds 20]

PostgreSQL on 127.0.0.1 (a throwaway database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

VAR = Path(tempfile.mkdtemp(prefix="miscomp-bench-assign-"))
os.environ.setdefault("MISCOMP_VAR_DIR", str(VAR))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.bulk import bulk_study, study_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--baseline-items", type=int, default=1_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    db = study_database("miscomp_bench_assign", args.annotators, "correct horse battery")
    engine, factory = db.engine, db.factory
    users = [user_id for user_id, _ in db.annotators]

    from app.studies import assignment
    from app.studies.models import Study
    from app.users.models import User

    def make_study(items: int) -> int:
        return bulk_study(
            factory,
            name=f"bench-{items}",
            items=items,
            image_id=db.image_id,
            taxonomy_id=db.taxonomy_id,
        )

    def load(study_id: int) -> tuple[list[float], int]:
        latencies: list[float] = []
        ratings = 0
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def annotator(user_id: int) -> None:
            nonlocal ratings
            with factory() as session:
                user = session.get(User, user_id)
                study = session.get(Study, study_id)
                assert user is not None
                assert study is not None
                while time.monotonic() < stop:
                    started = time.perf_counter()
                    lease = assignment.next_item(session, study, user)
                    elapsed = time.perf_counter() - started
                    if lease is None:
                        return
                    assignment.finish(session, lease.id, user)
                    with lock:
                        latencies.append(elapsed)
                        ratings += 1

        threads = [threading.Thread(target=annotator, args=(u,)) for u in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with engine.connect() as conn:
            over = conn.execute(
                text("SELECT count(*) FROM study_item WHERE study_id = :s AND done_count > 3"),
                {"s": study_id},
            ).scalar_one()
        assert over == 0, f"{over} items got more than k ratings"
        return latencies, ratings

    print(f"{args.annotators} annotators for {args.seconds:.0f} s each run, k=3, PostgreSQL")
    figures = {}
    for items in (args.baseline_items, args.items):
        started = time.perf_counter()
        study_id = make_study(items)
        build_s = time.perf_counter() - started
        latencies, ratings = load(study_id)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
        figures[items] = (p50, p95)
        print(
            f"  {items:7d} items (built in {build_s:5.1f} s): next_item median {p50:6.1f} ms, "
            f"p95 {p95:6.1f} ms; {ratings / args.seconds:6.1f} ratings/s; no item over k"
        )
    (b50, b95), (l50, l95) = figures[args.baseline_items], figures[args.items]
    ratio = f"median {l50 / b50:.2f}, p95 {l95 / b95:.2f}"
    print(f"ratio {args.items} / {args.baseline_items} items: {ratio}")
    engine.dispose()


if __name__ == "__main__":
    main()
