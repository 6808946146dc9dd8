"""Codec-run benchmarks: pipeline overhead and JPEG rate matching.

1. Pipeline overhead: the worker's encode step per image (claim the row, read the original,
   compress + decompress, write the reconstruction PNG, update the database) against a bare
   CompressAI compress/decompress loop over the same model and images on the same device,
   measured in the same run. The post-processing step (metrics, three maps, matched JPEG),
   which runs on its own queue, is reported too, and the sum of both against the bare loop.
2. JPEG matching: encodes per image and |achieved - target| bpp over a range of targets.

    .venv/bin/python bench/codec_runs_bench.py [--images 8] [--photos DIR] [--device cpu]

Photos default to ../shared/datasets/wikipedia-photos when present (else the test card).
The model is bmshj2018-hyperprior q1 with random weights (no pretrained weights are on this
machine): its timings are representative, its bpp and PSNR are not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

VAR = Path(tempfile.mkdtemp(prefix="miscomp-bench-runs-"))
os.environ.setdefault("MISCOMP_VAR_DIR", str(VAR))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.throwaway import fresh_postgres  # noqa: E402

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "wikipedia-photos"


def _photos(folder: Path, count: int) -> list[np.ndarray]:
    if folder.is_dir():
        files = sorted(folder.glob("*.png"))[:count]
        return [np.asarray(PILImage.open(f).convert("RGB")) for f in files]
    from app.domain.testcard import draw_test_card

    print(f"note: {folder} not found; using the test card")
    return [np.asarray(draw_test_card())] * count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    args = parser.parse_args()
    url = fresh_postgres("miscomp_bench_runs")
    os.environ["MISCOMP_DATABASE_URL"] = url

    import torch

    from app import install_session_listeners
    from app.codec_runs import processing, service
    from app.codec_runs.models import CodecResult
    from app.codec_runs.schemas import RunCreate
    from app.config import get_settings
    from app.datasets import importer
    from app.db import make_engine, make_sessionmaker
    from app.domain.codecs.classical import JpegCodec
    from app.domain.codecs.learned import CompressAICodec
    from app.domain.codecs.rate import MatchStatus, match_bpp
    from app.migrate import upgrade
    from app.storage import media_storage
    from tests.factories import make_dataset

    torch.set_num_threads(os.cpu_count() or 1)
    upgrade(url)
    install_session_listeners()
    settings = get_settings()
    storage = media_storage(settings)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    photos = _photos(args.photos, args.images)
    folder = VAR / "photos"
    folder.mkdir()
    for i, pixels in enumerate(photos):
        PILImage.fromarray(pixels).save(folder / f"{i:03d}.png")
    with factory.begin() as session:
        dataset = make_dataset(session, "bench")
        job_id = importer.create_path_import(session, dataset, folder, actor=None).id
        dataset_id = dataset.id
    importer.execute_import(factory, storage, settings, job_id)
    params = {
        "arch": "bmshj2018-hyperprior",
        "quality": 1,
        "pretrained": False,
        "device": args.device,
    }
    with factory.begin() as session:
        run = service.create_run(
            session, RunCreate(dataset_id=dataset_id, codec="compressai", params=params), actor=None
        )
        run_id = run.id
        session.info.pop("miscomp_jobs", None)  # the benchmark calls the task code itself
    with factory() as session:
        result_ids = list(
            session.scalars(
                select(CodecResult.id).where(CodecResult.run_id == run_id).order_by(CodecResult.id)
            )
        )

    codec = CompressAICodec(**params)
    codec.encode_decode(photos[0])  # warm up: model build, first-call allocations
    processing.warm_up()  # as a worker process does when it starts
    pixels_total = sum(p.shape[0] * p.shape[1] for p in photos)
    print(
        f"{len(photos)} photos, {pixels_total / len(photos) / 1e6:.2f} MP on average, "
        f"device {args.device}, torch threads {torch.get_num_threads()}"
    )

    bare, encode, post = [], [], []
    for pixels, result_id in zip(photos, result_ids, strict=True):
        started = time.perf_counter()
        codec.encode_decode(pixels)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        status = processing.encode_result(factory, storage, settings, result_id, "bench")
        encode.append(time.perf_counter() - started)
        assert status == "encoded", status
        started = time.perf_counter()
        processing.postprocess_result(factory, storage, settings, result_id, "bench")
        post.append(time.perf_counter() - started)
    mean_bare, mean_encode, mean_post = (statistics.mean(x) for x in (bare, encode, post))
    print("pipeline (seconds per image, mean):")
    print(f"  bare CompressAI compress+decompress loop   {mean_bare:7.3f}")
    print(
        f"  worker encode step (claim, read, code, PNG, DB) {mean_encode:7.3f}"
        f"   ratio {mean_encode / mean_bare:.3f}"
    )
    print(f"  worker post-processing (metrics, 3 maps, matched JPEG) {mean_post:7.3f}")
    print(
        f"  both steps on one worker                   {mean_encode + mean_post:7.3f}"
        f"   ratio {(mean_encode + mean_post) / mean_bare:.3f}"
    )

    encodes, errors, unreachable = [], [], 0
    for pixels in photos:
        for target in (0.1, 0.2, 0.3, 0.5, 0.75, 1.0):
            match = match_bpp(JpegCodec(), pixels, target)
            if match.status is not MatchStatus.MATCHED:
                unreachable += 1
                continue
            encodes.append(match.encodes)
            errors.append(abs(match.achieved_bpp - target))
    print(
        f"JPEG matching over {len(encodes) + unreachable} targets (0.1-1.0 bpp): "
        f"{statistics.mean(encodes):.2f} encodes per image (max {max(encodes)}), "
        f"mean |achieved - target| {statistics.mean(errors):.4f} bpp, "
        f"{unreachable} unreachable"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
