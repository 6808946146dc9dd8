"""Dataset benchmarks: import throughput, and page speed with 10,000 images in a dataset.

Prints figures as ratios against a baseline measured in the same run:
- import: images per second through the full import path (decode, PNG, thumbnail, database);
- browse: the dataset grid page and the API listing for the first and the last page of a
  10,000-image dataset, against the same page of a 60-image dataset. A ratio near 1 means
  pagination keeps big datasets as fast as small ones.

    .venv/bin/python bench/datasets_bench.py [--database-url URL] [--images 10000]

Without --database-url it creates a throwaway PostgreSQL database on 127.0.0.1 (the test
server); pass a sqlite:/// URL to measure the embedded mode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

VAR = Path(tempfile.mkdtemp(prefix="miscomp-bench-"))
os.environ.setdefault("MISCOMP_VAR_DIR", str(VAR))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.throwaway import fresh_postgres  # noqa: E402

BENCH_DB = "miscomp_bench"


def _time(fn: object, repeat: int = 15) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--import-images", type=int, default=40)
    args = parser.parse_args()
    url = args.database_url or fresh_postgres(BENCH_DB)
    os.environ["MISCOMP_DATABASE_URL"] = url

    from app import install_session_listeners
    from app.config import get_settings
    from app.datasets import importer
    from app.datasets.models import Image
    from app.db import make_engine, make_sessionmaker
    from app.domain.roles import Role
    from app.main import create_app
    from app.migrate import upgrade
    from app.storage import media_storage
    from tests.factories import make_dataset, make_user

    upgrade(url)
    install_session_listeners()
    settings = get_settings()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)

    # Import throughput on real-sized photographs (512x384 noise-free gradients with detail).
    folder = VAR / "import-src"
    folder.mkdir()
    for i in range(args.import_images):
        image = PILImage.linear_gradient("L").resize((512, 384)).convert("RGB")
        image.putpixel((i % 512, i // 512), (i % 256, 0, 0))
        image.save(folder / f"{i:04d}.png")
    with factory.begin() as session:
        dataset = make_dataset(session, "bench-import")
        job_id = importer.create_path_import(session, dataset, folder, actor=None).id
    started = time.perf_counter()
    job = importer.execute_import(factory, media_storage(settings), settings, job_id)
    elapsed = time.perf_counter() - started
    print(
        f"import: {job.n_imported} images of 512x384 in {elapsed:.2f} s "
        f"= {job.n_imported / elapsed:.1f} images/s (one process)"
    )

    # Browsing: a small and a big dataset, rows inserted directly.
    with factory.begin() as session:
        admin = make_user(session, Role.ADMIN, username="bench-admin")
        small = make_dataset(session, "small")
        big = make_dataset(session, "big")
        ids = {"small": small.id, "big": big.id}
    rows = []
    for name, count in (("small", 60), ("big", args.images)):
        for i in range(count):
            digest = f"{name}{i:060d}"[-64:]
            rows.append(
                {
                    "dataset_id": ids[name],
                    "filename": f"{name}-{i:05d}.png",
                    "source_sha256": digest,
                    "pixels_sha256": digest,
                    "width": 512,
                    "height": 384,
                    "format": "PNG",
                    "original_mode": "RGB",
                    "source_bytes": 1000,
                    "storage_key": f"images/{digest}.png",
                    "thumbnail_key": f"thumbs/{digest}.jpg",
                    "notes": [],
                }
            )
    with engine.begin() as conn:
        conn.execute(insert(Image), rows)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))

    app = create_app(sessionmaker=factory)
    client = TestClient(app)
    page = client.get("/login").text
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    from tests.factories import DEFAULT_PASSWORD

    client.post(
        "/login",
        data={"username": admin.username, "password": DEFAULT_PASSWORD, "csrf_token": csrf},
    )
    last_page = -(-args.images // 60)
    cases = {
        "grid page 1": (f"/datasets/{ids['small']}", f"/datasets/{ids['big']}"),
        "grid last page": (
            f"/datasets/{ids['small']}?page=1",
            f"/datasets/{ids['big']}?page={last_page}",
        ),
        "API first 100": (
            f"/api/datasets/{ids['small']}/images?limit=100",
            f"/api/datasets/{ids['big']}/images?limit=100",
        ),
        "API last 100": (
            f"/api/datasets/{ids['small']}/images?limit=100",
            f"/api/datasets/{ids['big']}/images?offset={args.images - 100}&limit=100",
        ),
    }
    print(f"browse ({engine.dialect.name}; median of 15; baseline = 60-image dataset):")
    for label, (baseline_url, big_url) in cases.items():
        assert client.get(big_url).status_code == 200
        baseline = _time(lambda u=baseline_url: client.get(u))
        measured = _time(lambda u=big_url: client.get(u))
        print(
            f"  {label:15} {args.images} images: {measured:6.1f} ms   "
            f"60 images: {baseline:6.1f} ms   ratio {measured / baseline:.2f}"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
