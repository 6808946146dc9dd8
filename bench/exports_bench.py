"""Exporting a study at scale: 100,000 items and 500,000 annotations, to JSONL and Parquet.

Builds, in a throwaway PostgreSQL database (with COPY), a study as a real one looks: 2,000
images of a dataset coded by two runs (metrics, matched JPEGs, weights recorded), 100,000
random crops of those results, 5 ratings an item from 50 raters (a tenth of them with boxes,
one in twenty revised once, notes in several scripts), and an adjudication for one item in
twenty. Then each export runs as a user runs it, ``miscomp studies export STUDY --format F
--out PATH``, in a process of its own, whose wall time (start-up included) and peak resident
memory (``ru_maxrss`` from ``wait4``) are printed.

The baseline of the same run is the plainest exporter: a process that reads the same
annotation rows joined with their items in one SELECT (SQLAlchemy Core, streamed) and writes
each row as one JSON line with the standard library, with no study, image, codec,
adjudication or agreement section. The exports write far more (every field of
docs/exports.md); a ratio under 1 means they still take less time than that.

    .venv/bin/python bench/exports_bench.py [--items 100000] [--per-item 5] [--raters 50]
    .venv/bin/python bench/exports_bench.py --reuse   # the study the last run built
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

VAR = Path(tempfile.mkdtemp(prefix="miscomp-bench-exports-"))
os.environ.setdefault("MISCOMP_VAR_DIR", str(VAR))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DATABASE = "miscomp_bench_exports"
STUDY = "bench-export"
IMAGES = 2_000
RUNS = 2
VERDICTS = ("miscompression", "no_miscompression", "unsure")
NOTES = ("", "", "", "digits changed", "le chiffre 8 devient 3", "文字が崩れる", "крест исчез")


def _copy(connection: object, table: str, columns: tuple[str, ...], rows: object) -> None:
    """Rows into ``table`` with COPY (psycopg's ``write_row``)."""
    cursor = connection.cursor()  # type: ignore[attr-defined]
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:  # type: ignore[attr-defined]
            copy.write_row(row)


def build(db: object, items: int, per_item: int, seed: int) -> int:
    """The study described above; its id."""
    from app.codec_runs.models import CodecRun
    from app.db import utcnow
    from app.studies.models import Study

    rng = np.random.default_rng(seed)
    factory = db.factory  # type: ignore[attr-defined]
    raters = [user_id for user_id, _ in db.annotators]  # type: ignore[attr-defined]
    now = utcnow()
    with factory.begin() as session:
        dataset_id = session.execute(
            __import__("sqlalchemy").text("SELECT dataset_id FROM image LIMIT 1")
        ).scalar_one()
        runs = [
            CodecRun(
                dataset_id=dataset_id,
                codec="mbt2018-mean",
                params={"quality": q, "weights": f"mbt2018-mean-q{q}.pth.tar"},
                seeds=[0],
                match_jpeg=True,
                status="done",
            )
            for q in range(1, RUNS + 1)
        ]
        session.add_all(runs)
        session.flush()
        run_ids = [r.id for r in runs]
        study = Study(
            name=STUDY,
            status="open",
            run_ids=run_ids,
            crop_sizes=[128, 256],
            methods=["random"],
            items_target=items,
            quotas={"random": 1.0},
            raters_per_item=per_item,
            lease_s=900,
            blind=True,
            panes=["original", "reconstruction", "jpeg"],
            taxonomy_version_id=db.taxonomy_id,  # type: ignore[attr-defined]
            proposal_report={},
        )
        session.add(study)
        session.flush()
        study_id = study.id
        taxonomy_id = db.taxonomy_id  # type: ignore[attr-defined]

    raw = db.engine.raw_connection()  # type: ignore[attr-defined]
    try:
        connection = raw.driver_connection
        cursor = connection.cursor()
        cursor.execute("SELECT coalesce(max(id), 0) FROM image")
        first_image = cursor.fetchone()[0] + 1
        image_ids = list(range(first_image, first_image + IMAGES))
        _copy(
            connection,
            "image",
            ("id", "dataset_id", "filename", "source_sha256", "pixels_sha256", "width",
             "height", "format", "original_mode", "source_bytes", "storage_key",
             "thumbnail_key", "notes", "created_at"),
            (
                (i, dataset_id, f"photo-{i:05d}.png", f"{i:064x}", f"{i * 7:064x}", 1024, 768,
                 "PNG", "RGB", 1_500_000, f"images/{i}.png", f"thumbs/{i}.jpg", "[]", now)
                for i in image_ids
            ),
        )  # fmt: skip
        result_ids = list(range(1, RUNS * IMAGES + 1))
        metrics = json.dumps({"psnr": 31.25, "ms_ssim": 0.9712, "ciede2000": 1.84})
        _copy(
            connection,
            "codec_result",
            ("id", "run_id", "image_id", "seed", "status", "attempts", "bits", "bpp",
             "bits_source", "device", "metrics", "maps", "environment", "notes", "jpeg_status",
             "jpeg_quality", "jpeg_bpp", "jpeg_metrics"),
            (
                (r, run_ids[(r - 1) // IMAGES], image_ids[(r - 1) % IMAGES], 0, "done", 1,
                 200_000, 0.254, "bitstream", "cpu", metrics, "{}",
                 json.dumps({"codec": {"weights_sha256": f"{r % RUNS:064x}"}}), "[]",
                 "matched", 17, 0.256, metrics)
                for r in result_ids
            ),
        )  # fmt: skip
        chosen_results = rng.integers(0, len(result_ids), items)
        sizes = rng.choice([128, 256], items)
        xs = rng.integers(0, 1024 - 256, items)
        ys = rng.integers(0, 768 - 256, items)
        cursor.execute("SELECT coalesce(max(id), 0) FROM study_item")
        first_item = cursor.fetchone()[0] + 1
        item_ids = list(range(first_item, first_item + items))
        _copy(
            connection,
            "study_item",
            ("id", "study_id", "position", "kind", "method", "result_id", "image_id", "x", "y",
             "size", "share_percent", "score", "inclusion_probability", "evidence", "assets",
             "active_count", "done_count"),
            (
                (item_ids[n], study_id, n, "crop", "random", result_ids[chosen_results[n]],
                 image_ids[chosen_results[n] % IMAGES], int(xs[n]), int(ys[n]),
                 int(sizes[n]), 100.0 * int(sizes[n]) ** 2 / (1024 * 768), 0.0, 1.0 / 5e5,
                 "{}", "{}", 0, per_item)
                for n in range(items)
            ),
        )  # fmt: skip
        ranking = np.argsort(rng.random((items, len(raters))), axis=1)[:, :per_item]
        total = items * per_item
        verdicts = rng.choice(3, total, p=[0.2, 0.7, 0.1])
        with_boxes = rng.random(total) < 0.1
        revised = rng.random(total) < 0.05
        notes = rng.integers(0, len(NOTES), total)
        pane_maps = (
            json.dumps({"A": "reconstruction", "B": "jpeg"}),
            json.dumps({"A": "jpeg", "B": "reconstruction"}),
        )
        box = json.dumps([{"pane": "reconstruction", "x": 10, "y": 12, "w": 40, "h": 30}])
        leased = now - timedelta(hours=2)

        def annotation(n: int) -> tuple[object, ...]:
            v = VERDICTS[verdicts[n]]
            return (
                n + 1, f"bench-{n}", n + 1, study_id, item_ids[n // per_item],
                raters[ranking[n // per_item, n % per_item]], taxonomy_id, v,
                '["shape"]' if v == "miscompression" else "[]",
                '["symbol"]' if v == "miscompression" and n % 3 == 0 else "[]",
                NOTES[notes[n]], "an 8", "a 3", 3 + n % 3,
                '["reconstruction"]' if with_boxes[n] else "[]",
                box if with_boxes[n] else "[]", 2 if revised[n] else 1, 4_000 + n % 9_000,
                False, now,
            )  # fmt: skip

        _copy(
            connection,
            "assignment",
            ("id", "study_id", "item_id", "user_id", "status", "leased_at", "lease_expires_at",
             "finished_at", "pane_map"),
            (
                (n + 1, study_id, item_ids[n // per_item],
                 raters[ranking[n // per_item, n % per_item]], "done", leased,
                 leased + timedelta(minutes=15), now, pane_maps[n % 2])
                for n in range(total)
            ),
        )  # fmt: skip
        _copy(
            connection,
            "annotation",
            ("id", "client_id", "assignment_id", "study_id", "item_id", "user_id",
             "taxonomy_version_id", "verdict", "categories", "modifiers", "note",
             "original_shows", "compressed_shows", "confidence", "seen_in", "boxes",
             "revision", "time_spent_ms", "late", "created_at"),
            (annotation(n) for n in range(total)),
        )  # fmt: skip

        def revisions() -> object:
            next_id = 1
            for n in range(total):
                row = annotation(n)
                numbers = (1, 2) if revised[n] else (1,)
                for number in numbers:
                    earlier = number < len(numbers)
                    yield (
                        next_id, n + 1, number, f"bench-{n}-r{number}",
                        "unsure" if earlier else row[7], "[]" if earlier else row[8],
                        "[]" if earlier else row[9], row[10], row[11], row[12], row[13],
                        "[]" if earlier else row[14], "[]" if earlier else row[15],
                        leased + timedelta(minutes=number),
                    )  # fmt: skip
                    next_id += 1

        _copy(
            connection,
            "annotation_revision",
            ("id", "annotation_id", "number", "client_id", "verdict", "categories",
             "modifiers", "note", "original_shows", "compressed_shows", "confidence",
             "seen_in", "boxes", "created_at"),
            revisions(),
        )  # fmt: skip
        _copy(
            connection,
            "adjudication",
            ("study_id", "item_id", "verdict", "categories", "modifiers", "note", "decided_at"),
            (
                (study_id, item_ids[n], "miscompression", '["shape"]', "[]", "8 became 3", now)
                for n in range(0, items, 20)
            ),
        )  # fmt: skip
        for table in ("image", "codec_result", "study_item", "assignment", "annotation",
                      "annotation_revision"):  # fmt: skip
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), max(id)) "
                f'FROM "{table}"'
            )
        cursor.execute("ANALYZE")
        connection.commit()
    finally:
        raw.close()
    return study_id


def baseline(study_id: int, out: Path) -> int:
    """The plainest exporter: the annotation rows joined with their items, one SELECT
    streamed to JSON Lines; how many rows."""
    from sqlalchemy import select

    from app.db import make_engine
    from app.studies.models import Annotation, StudyItem

    engine = make_engine(os.environ["MISCOMP_DATABASE_URL"])
    statement = (
        select(Annotation.__table__, StudyItem.__table__)
        .join_from(Annotation, StudyItem, StudyItem.id == Annotation.item_id)
        .where(Annotation.study_id == study_id)
        .order_by(Annotation.item_id, Annotation.id)
    )
    written = 0
    with engine.connect() as connection, out.open("w", encoding="utf-8") as handle:
        rows = connection.execution_options(yield_per=5000).execute(statement)
        for row in rows:
            handle.write(json.dumps(row._asdict(), default=str, ensure_ascii=False))
            handle.write("\n")
            written += 1
    return written


def _built() -> tuple[str, int]:
    """The database and study of the last run."""
    from sqlalchemy import create_engine, text

    from bench.throwaway import PG_ADMIN

    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DATABASE}"
    engine = create_engine(url)
    with engine.connect() as connection:
        study_id = connection.scalar(text(f"SELECT id FROM study WHERE name = '{STUDY}'"))
    engine.dispose()
    if study_id is None:
        raise SystemExit(f"no study {STUDY} in {DATABASE}: run without --reuse first")
    return url, study_id


def _described(url: str, study_id: int) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        counts = [
            connection.scalar(
                text(f'SELECT count(*) FROM "{table}" WHERE study_id = :s'), {"s": study_id}
            )
            for table in ("study_item", "annotation")
        ]
        raters = connection.scalar(
            text("SELECT count(DISTINCT user_id) FROM annotation WHERE study_id = :s"),
            {"s": study_id},
        )
    engine.dispose()
    return (
        f"study of {counts[0]} items, {counts[1]} annotations from {raters} raters "
        f"({RUNS} runs of {IMAGES} images)"
    )


def _measured(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Runs ``command``; its wall seconds and peak resident memory in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed with {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--per-item", type=int, default=5)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument(
        "--reuse", action="store_true", help="Export the study the last run built again."
    )
    parser.add_argument("--baseline-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_of is not None:
        baseline(args.baseline_of, args.out)
        return

    if args.reuse:
        url, study_id = _built()
    else:
        from bench.bulk import study_database

        db = study_database(DATABASE, args.raters, "correct horse battery")
        started = time.perf_counter()
        study_id = build(db, args.items, args.per_item, seed=1)
        db.engine.dispose()
        url = db.url
        print(f"built in {time.perf_counter() - started:.0f} s")
    print(_described(url, study_id))
    env = {**os.environ, "MISCOMP_DATABASE_URL": url, "MISCOMP_VAR_DIR": str(VAR)}
    miscomp = str(Path(sys.executable).parent / "miscomp")
    figures: dict[str, tuple[float, float, float]] = {}
    for name, command in (
        ("baseline", [sys.executable, __file__, "--baseline-of", str(study_id)]),
        ("jsonl", [miscomp, "studies", "export", str(study_id), "--format", "jsonl"]),
        ("parquet", [miscomp, "studies", "export", str(study_id), "--format", "parquet"]),
    ):
        out = VAR / f"export.{name}"
        wall, peak = _measured([*command, "--out", str(out)], env)
        figures[name] = (wall, peak, out.stat().st_size / 1e6)
        out.unlink()
    floor = figures["baseline"][0]
    for name, (wall, peak, size) in figures.items():
        print(
            f"  {name:8} {wall:6.1f} s (x{wall / floor:4.2f} the baseline), "
            f"peak memory {peak:5.0f} MB, file {size:5.0f} MB"
        )


if __name__ == "__main__":
    main()
