"""Researchers' pages at study scale: 100,000 items and 500,000 annotations.

Builds a study of 100,000 crops with 5 ratings each (simulated raters who agree with a
hidden truth most of the time) in a throwaway PostgreSQL database, then times what the
researcher's pages do: the adjudication queue (found from light rows), the gallery's list of
confirmed miscompressions, the report's computation on a worker (every question, per-rater
agreement, confusion, regions, prevalence; bootstrap left out here, see agreement_bench), and
the results page served from the cached report. The same on 1,000 items is the baseline of
the same run.

    .venv/bin/python bench/results_bench.py [--items 100000] [--per-item 5] [--raters 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

VAR = Path(tempfile.mkdtemp(prefix="miscomp-bench-results-"))
os.environ.setdefault("MISCOMP_VAR_DIR", str(VAR))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from bench.bulk import bulk_study, study_database  # noqa: E402

VERDICTS = ("miscompression", "no_miscompression", "unsure")


def _label(db: object, study_id: int, items: int, per_item: int, seed: int) -> None:
    """Finished assignments and their annotations, 10,000 rows a statement."""
    from app.db import utcnow
    from app.studies.models import Annotation, Assignment, Study, StudyItem

    factory = db.factory  # type: ignore[attr-defined]
    raters = [user_id for user_id, _ in db.annotators]  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    now = utcnow()
    with factory.begin() as session:
        item_ids = list(
            session.scalars(
                select(StudyItem.id).where(StudyItem.study_id == study_id).order_by(StudyItem.id)
            )
        )
        taxonomy = session.get(Study, study_id).taxonomy_version_id
    truth = rng.choice(3, size=items, p=[0.2, 0.7, 0.1])
    chosen = np.argsort(rng.random((items, len(raters))), axis=1)[:, :per_item]
    rows = []
    for index, item_id in enumerate(item_ids):
        for k in range(per_item):
            verdict = truth[index] if rng.random() < 0.8 else rng.integers(0, 3)
            rows.append((item_id, raters[chosen[index, k]], VERDICTS[verdict]))
    for start in range(0, len(rows), 10_000):
        chunk = rows[start : start + 10_000]
        with factory.begin() as session:
            ids = session.scalars(
                insert(Assignment).returning(Assignment.id),
                [
                    {"study_id": study_id, "item_id": i, "user_id": u, "status": "done",
                     "leased_at": now, "lease_expires_at": now + timedelta(hours=1),
                     "finished_at": now, "pane_map": {}}
                    for i, u, _ in chunk
                ],
            ).all()  # fmt: skip
            session.execute(
                insert(Annotation),
                [
                    {"client_id": f"b{study_id}-{start + n}", "assignment_id": a,
                     "study_id": study_id, "item_id": i, "user_id": u,
                     "taxonomy_version_id": taxonomy, "verdict": v,
                     "categories": ["shape"] if v == "miscompression" else [],
                     "modifiers": [], "note": "", "original_shows": "", "compressed_shows": "",
                     "confidence": 3, "seen_in": [], "boxes": [], "revision": 1, "late": False,
                     "created_at": now}
                    for n, (a, (i, u, v)) in enumerate(zip(ids, chunk, strict=True))
                ],
            )  # fmt: skip


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--baseline-items", type=int, default=1_000)
    parser.add_argument("--per-item", type=int, default=5)
    parser.add_argument("--raters", type=int, default=50)
    args = parser.parse_args()
    db = study_database("miscomp_bench_results", args.raters, "correct horse battery")

    from fastapi.testclient import TestClient

    from app.domain.roles import Role
    from app.main import create_app
    from app.studies import adjudication, gallery, results
    from app.studies.models import Study
    from tests.factories import make_user

    with db.factory.begin() as session:
        researcher = make_user(session, Role.RESEARCHER, password="correct horse battery")
        name = researcher.username
    client = TestClient(create_app(sessionmaker=db.factory), follow_redirects=False)
    page = client.get("/login")
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    client.post("/login", data={"username": name, "password": "correct horse battery",
                                "csrf_token": token})  # fmt: skip
    print(f"{args.per_item} ratings per item from {args.raters} raters, PostgreSQL")
    figures = {}
    for items in (args.baseline_items, args.items):
        started = time.perf_counter()
        study_id = bulk_study(
            db.factory, name=f"bench-{items}", items=items, image_id=db.image_id,
            taxonomy_id=db.taxonomy_id,
        )  # fmt: skip
        _label(db, study_id, items, args.per_item, seed=items)
        built = time.perf_counter() - started
        with db.factory() as session:
            study = session.get(Study, study_id)
            queue_s, queue = _timed(adjudication.disagreements, session, study)
            gallery_s, (confirmed, _) = _timed(gallery.confirmed, session, study, page_size=50)
            session.rollback()
            results.request_report(session, study)
            session.commit()
        compute_s, _ = _timed(results.compute_report, db.factory, study_id, replicates=0)
        page_s, response = _timed(client.get, f"/studies/{study_id}/results")
        assert response.status_code == 200
        assert "agreement-table" in response.text
        adjudication_page_s, listed = _timed(client.get, f"/studies/{study_id}/adjudication")
        gallery_page_s, shown = _timed(client.get, f"/studies/{study_id}/gallery")
        assert shown.status_code == 200
        assert listed.status_code == 200
        figures[items] = (
            queue_s,
            gallery_s,
            compute_s,
            page_s,
            adjudication_page_s,
            gallery_page_s,
        )
        print(
            f"  {items:7d} items ({items * args.per_item} annotations, built in {built:5.1f} s):"
            f" adjudication queue from the annotations {queue_s:5.2f} s ({queue.total} items),"
            f" gallery list from the annotations {gallery_s:5.2f} s ({confirmed.total} confirmed),"
            f" report on a worker {compute_s:5.2f} s; then, from the report: results page"
            f" {page_s * 1000:6.1f} ms,"
            f" adjudication page {adjudication_page_s:5.2f} s, gallery page {gallery_page_s:5.2f} s"
        )
    base, large = figures[args.baseline_items], figures[args.items]
    names = (
        "adjudication queue", "gallery list", "report", "results page", "adjudication page",
        "gallery page",
    )  # fmt: skip
    ratios = ", ".join(f"{n} {b2 / b1:.0f}x" for n, b1, b2 in zip(names, base, large, strict=True))
    print(f"ratio {args.items} / {args.baseline_items} items: {ratios}")
    db.engine.dispose()


if __name__ == "__main__":
    main()
