"""Codec runs end to end: web/API, PostgreSQL, Redis and real Celery workers (a thread, or
subprocesses where one must be killed)."""

from __future__ import annotations

import html
import io
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.codec_runs import processing, service
from app.codec_runs.models import RESULT_ACTIVE_STATUSES, CodecResult, CodecRun
from app.codec_runs.schemas import RunCreate
from app.config import get_settings
from app.datasets.models import Dataset
from app.db import make_sessionmaker
from app.domain.codecs import registry
from app.domain.codecs.learned import MAX_DECODE_MISMATCH
from app.domain.testcard import draw_test_card
from app.storage import LocalMediaStorage
from app.studies.models import StudyItem
from tests.conftest import login_new_admin
from tests.factories import declare_external_codecs, make_dataset, store_image
from tests.workers.helpers import (
    SLOW_WEBP,
    dataset_with_images,
    results_of,
    run_status,
    start_worker,
    stop_process,
    wait_for,
)

pytestmark = pytest.mark.worker


def test_neural_and_jpeg_runs_complete_with_every_artefact(
    committed_client: TestClient, committed_db: Engine, celery_worker_thread: None
) -> None:
    dataset_id = dataset_with_images(committed_db, 2)
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    neural = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={
            "dataset_id": dataset_id,
            "codec": "compressai",
            "params": {"arch": "bmshj2018-hyperprior", "quality": 1, "pretrained": False},
        },
    )
    assert neural.status_code == 201, neural.text
    assert neural.json()["match_jpeg"] is True and neural.json()["queue"] == "gpu"
    jpeg = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={
            "dataset_id": dataset_id,
            "codec": "jpeg",
            "params": {"quality": 25},
        },
    )
    assert jpeg.json()["match_jpeg"] is False and jpeg.json()["params"]["subsampling"] == "4:2:0"
    shipped = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={"dataset_id": dataset_id, "codec": "miscomp-mbt-low", "params": {}},
    )
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["match_jpeg"] is True

    for run in (neural.json(), jpeg.json(), shipped.json()):
        wait_for(lambda r=run: run_status(committed_db, r["id"]) == "done", what="run done")

    storage = LocalMediaStorage(get_settings().media_root)
    report = committed_client.get(f"/api/runs/{neural.json()['id']}").json()
    assert report["progress"]["done"] == report["progress"]["total"] == 2
    for result in report["results"]:
        assert result["status"] == "done", result["error"]
        assert result["bits_source"] == "bitstream"
        assert result["bpp"] == pytest.approx(result["bits"] / (192 * 176))
        assert result["metrics"]["psnr_rgb"] > 0
        assert 0 < result["metrics"]["ms_ssim_rgb"] <= 1
        assert result["metrics"]["ciede2000_mean"] >= 0
        assert set(result["maps"]) >= {
            "difference",
            "ssim",
            "ssim_raw",
            "ciede2000",
            "ciede2000_raw",
        }
        assert all(
            storage.exists(key) for name, key in result["maps"].items() if name != "difference_gain"
        )
        # Random weights spend 0.19 bpp on these crops, half of what JPEG spends at its lowest
        # quality (0.4 bpp): the nearest JPEG is kept, marked as out of JPEG's reach.
        assert result["jpeg_status"] == "unreachable_below"
        assert result["jpeg_target_bpp"] == result["bpp"] < result["jpeg_bpp"]
        assert 1 <= result["jpeg_quality"] <= 100 and result["jpeg_encodes"] >= 1
        assert result["jpeg_path"] is not None and storage.exists(result["jpeg_path"])
        assert result["environment"]["packages"]["compressai"] == "1.2.8"
        assert result["environment"]["codec"]["arch"] == "bmshj2018-hyperprior"
        recon = committed_client.get(f"/media/results/{result['id']}/reconstruction.png")
        assert PILImage.open(io.BytesIO(recon.content)).size == (192, 176)
        matched = committed_client.get(f"/media/results/{result['id']}/jpeg.png")
        assert matched.status_code == 200 and matched.content == storage.read(result["jpeg_path"])

    shipped_report = committed_client.get(f"/api/runs/{shipped.json()['id']}").json()
    for result in shipped_report["results"]:
        assert result["status"] == "done", result["error"]
        assert result["bits_source"] == "bitstream" and result["bits"] > 0
        assert result["environment"]["codec"]["model"] == "miscomp-mbt-low"
        assert len(result["environment"]["codec"]["weights_sha256"]) == 64
        assert result["environment"]["decode_forward_max_abs_diff"] <= 4

    jpeg_report = committed_client.get(f"/api/runs/{jpeg.json()['id']}").json()
    assert {r["bits_source"] for r in jpeg_report["results"]} == {"file"}
    assert {r["jpeg_quality"] for r in jpeg_report["results"]} == {None}
    page = committed_client.get(f"/runs/{neural.json()['id']}")
    assert 'data-testid="run-status">done' in page.text
    assert "/media/results/" in page.text

    svg = committed_client.get(f"/datasets/{dataset_id}/rd.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "bmshj2018-hyperprior (mse), random weights" in svg.text
    assert "miscomp-mbt-low" in svg.text
    assert "jpeg (optimize=False, progressive=False, subsampling=4:2:0)" in svg.text
    assert svg.content == committed_client.get(f"/datasets/{dataset_id}/rd.svg").content
    pdf = committed_client.get(f"/datasets/{dataset_id}/rd.pdf")
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    assert committed_client.get(f"/datasets/{dataset_id}/rd.gif").status_code == 404


def test_a_duplicated_task_makes_no_second_result(
    committed_db: Engine, celery_worker_thread: None
) -> None:
    dataset_id = dataset_with_images(committed_db, 1)
    factory = make_sessionmaker(committed_db)
    with factory.begin() as session:
        run = service.create_run(
            session,
            RunCreate(dataset_id=dataset_id, codec="jpeg", params={"quality": 30}),
            actor=None,
        )
        run_id = run.id
    wait_for(lambda: run_status(committed_db, run_id) == "done", what="run done")
    (result,) = results_of(committed_db, run_id)
    settings = get_settings()
    storage = LocalMediaStorage(settings.media_root)
    # The same task delivered again (say, by a retry) and a stray second task both find the
    # result finished and leave it alone.
    for task_id in ("duplicate-1", "duplicate-2"):
        assert processing.encode_result(factory, storage, settings, result.id, task_id) == "done"
        assert (
            processing.postprocess_result(factory, storage, settings, result.id, task_id) == "done"
        )
    (after,) = results_of(committed_db, run_id)
    assert (after.attempts, after.recon_key, after.metrics) == (
        result.attempts,
        result.recon_key,
        result.metrics,
    )
    with Session(committed_db) as session:
        count = session.scalar(select(func.count()).where(CodecResult.run_id == run_id))
    assert count == 1


def test_a_claimed_result_is_not_taken_by_another_task(committed_db: Engine) -> None:
    dataset_id = dataset_with_images(committed_db, 1)
    factory = make_sessionmaker(committed_db)
    with factory.begin() as session:
        run = service.create_run(
            session,
            RunCreate(dataset_id=dataset_id, codec="jpeg", params={"quality": 30}),
            actor=None,
        )
        run_id = run.id
        session.info.pop("miscomp_jobs", None)  # no worker here: claim by hand
    (result,) = results_of(committed_db, run_id)
    with factory() as session:
        assert (
            processing._claim(
                session,
                result.id,
                ready="pending",
                working="encoding",
                task_id="first",
                lease_s=3600,
            )
            is not None
        )
    with factory() as session:
        assert (
            processing._claim(
                session,
                result.id,
                ready="pending",
                working="encoding",
                task_id="second",
                lease_s=3600,
            )
            is None
        )
        # The first task, redelivered after its worker died, takes its own claim back.
        assert (
            processing._claim(
                session,
                result.id,
                ready="pending",
                working="encoding",
                task_id="first",
                lease_s=3600,
            )
            is not None
        )


def test_a_killed_workers_task_is_redone_after_restart(
    committed_db: Engine, declared_codecs: Path
) -> None:
    dataset_id = dataset_with_images(committed_db, 1)
    factory = make_sessionmaker(committed_db)
    with factory.begin() as session:
        run = service.create_run(
            session,
            RunCreate(
                dataset_id=dataset_id,
                codec="external",
                params={"name": "slow-cwebp", "quality": 4},
                maps=[],
            ),
            actor=None,
        )
        run_id = run.id
    env = {**os.environ, "MISCOMP_TASK_VISIBILITY_TIMEOUT_S": "3"}
    first = start_worker(env)
    try:
        wait_for(
            lambda: results_of(committed_db, run_id)[0].status == "encoding",
            60,
            "the first worker to start encoding",
        )
    finally:
        stop_process(first, signal.SIGKILL)
    assert results_of(committed_db, run_id)[0].status == "encoding"
    second = start_worker(env)
    try:
        wait_for(lambda: run_status(committed_db, run_id) == "done", 120, "the run to finish")
    finally:
        stop_process(second, signal.SIGTERM)
    (result,) = results_of(committed_db, run_id)
    assert result.status == "done", result.error
    assert result.attempts == 2  # claimed by the killed worker, then by the restarted one
    assert result.bits and result.bits > 0


def test_cancel_stops_the_run(
    committed_client: TestClient,
    committed_db: Engine,
    celery_worker_thread: None,
    declared_codecs: Path,
) -> None:
    dataset_id = dataset_with_images(committed_db, 5)
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    created = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={
            "dataset_id": dataset_id,
            "codec": "external",
            "params": {"name": "slow-cwebp", "quality": 1},
            "maps": [],
        },
    ).json()
    wait_for(
        lambda: any(r.status == "done" for r in results_of(committed_db, created["id"])),
        what="a first result",
    )
    cancelled = committed_client.post(f"/api/runs/{created['id']}/cancel", headers=csrf)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    wait_for(
        lambda: (
            not any(
                r.status in RESULT_ACTIVE_STATUSES for r in results_of(committed_db, created["id"])
            )
        ),
        what="quiet",
    )
    statuses = [r.status for r in results_of(committed_db, created["id"])]
    assert statuses.count("cancelled") >= 2
    assert set(statuses) <= {"done", "cancelled"}
    assert run_status(committed_db, created["id"]) == "cancelled"
    again = committed_client.post(f"/api/runs/{created['id']}/cancel", headers=csrf)
    assert again.status_code == 409


def test_failed_images_are_recorded_and_retried(
    committed_db: Engine, celery_worker_thread: None, declared_codecs: Path
) -> None:
    dataset_id = dataset_with_images(committed_db, 2)
    factory = make_sessionmaker(committed_db)
    broken = {**SLOW_WEBP, "decode": "sh -c 'exit 7' {input} {output}"}
    declare_external_codecs(declared_codecs, {"flaky": broken})
    with factory.begin() as session:
        run_id = service.create_run(
            session,
            RunCreate(
                dataset_id=dataset_id,
                codec="external",
                params={"name": "flaky", "quality": 0},
                maps=[],
            ),
            actor=None,
        ).id
    wait_for(lambda: run_status(committed_db, run_id) == "done", what="run done")
    results = results_of(committed_db, run_id)
    assert {r.status for r in results} == {"failed"}
    assert all("decode exited with status 7" in (r.error or "") for r in results)
    declare_external_codecs(declared_codecs, {"flaky": SLOW_WEBP})  # the operator fixed it
    with factory.begin() as session:
        assert service.retry_run(session, run_id) == 2
    wait_for(
        lambda: (
            run_status(committed_db, run_id) == "done"
            and all(r.status == "done" for r in results_of(committed_db, run_id))
        ),
        what="retry",
    )
    with Session(committed_db) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
    assert np.all([r.attempts == 2 for r in results_of(committed_db, run_id)])


def test_an_image_too_small_to_measure_fails_with_its_reason(
    committed_db: Engine, celery_worker_thread: None
) -> None:
    dataset_id = dataset_with_images(committed_db, 1)
    with Session(committed_db) as session:
        store_image(session, dataset_id, draw_test_card().crop((0, 0, 9, 30)), "sliver.png")
        session.commit()
    factory = make_sessionmaker(committed_db)
    with factory.begin() as session:
        run_id = service.create_run(
            session,
            RunCreate(dataset_id=dataset_id, codec="jpeg", params={"quality": 40}),
            actor=None,
        ).id
    # The rest of the run goes on, and the run ends rather than waiting for ever.
    wait_for(lambda: run_status(committed_db, run_id) == "done", what="run done")
    by_status = {r.status: r for r in results_of(committed_db, run_id)}
    assert set(by_status) == {"done", "failed"}
    assert by_status["failed"].error == "the image is 9 x 30 pixels; SSIM needs at least 11 x 11"
    assert by_status["done"].metrics["ms_ssim_rgb"] is not None


def test_a_web_request_cannot_run_commands_or_read_files_on_the_workers(
    committed_client: TestClient, committed_db: Engine, declared_codecs: Path
) -> None:
    """The findings: ``params.encode = "sh -c '...'"`` ran on the workers, and a checkpoint
    ``path`` could name any file they can read. Now both are refused before a run exists."""
    dataset_id = dataset_with_images(committed_db, 1)
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    weights = get_settings().weights_dir
    weights.mkdir(parents=True, exist_ok=True)
    escape = weights / f"escape-{uuid.uuid4().hex[:8]}.pth"
    escape.symlink_to("/etc/passwd")
    pwned = declared_codecs.parent / "pwned"
    shell = f"sh -c 'touch {pwned}' {{input}} {{output}}"
    refused = [
        ("external", {"label": "x", "encode": shell, "decode": shell}, "cannot set decode"),
        ("external", {"name": "slow-cwebp", "encode": shell}, "cannot set encode"),
        ("external", {"name": "slow-cwebp", "quality": 11}, "slow-cwebp has qualities 0-10"),
        ("external", {"name": "hific"}, "no command-line codec named 'hific' is declared"),
        ("checkpoint", {"path": "/etc/passwd", "arch": "mbt2018-mean"}, "is not relative"),
        ("checkpoint", {"path": "../../../etc/passwd", "arch": "mbt2018"}, "'..' is not allowed"),
        ("checkpoint", {"path": escape.name, "arch": "mbt2018"}, "resolves outside"),
        ("compressai", {"arch": "mbt2018", "quality": 1, "weights_dir": "/etc"}, "not relative"),
    ]
    try:
        for codec, params, message in refused:
            body = {"dataset_id": dataset_id, "codec": codec, "params": params}
            answer = committed_client.post("/api/runs", headers=csrf, json=body)
            assert answer.status_code == 422, (codec, params, answer.text)
            assert message in answer.json()["detail"], answer.text
            form = committed_client.post(
                "/runs",
                headers=csrf,
                data={"dataset_id": str(dataset_id), "codec": codec, "params": json.dumps(params)},
            )
            assert form.status_code == 422 and message in html.unescape(form.text), form.text
    finally:
        escape.unlink()
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(CodecRun)) == 0
    assert not pwned.exists()
    picked = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={"dataset_id": dataset_id, "codec": "external", "params": {"name": "slow-cwebp"}},
    )
    assert picked.status_code == 422 and "needs a quality from 0 to 10" in picked.text
    picked = committed_client.post(
        "/api/runs",
        headers=csrf,
        json={
            "dataset_id": dataset_id,
            "codec": "external",
            "params": {"name": "slow-cwebp", "quality": 0},
        },
    )
    assert picked.status_code == 201, picked.text
    assert picked.json()["params"] == {"name": "slow-cwebp", "quality": 0}


def test_a_file_that_is_not_a_checkpoint_fails_its_images_and_the_run_finishes(
    committed_db: Engine, celery_worker_thread: None
) -> None:
    """A non-checkpoint in the weights folder made the task crash with an unpickling error,
    leaving the run queued for ever; a state dict of another model crashed it too."""
    import torch

    folder = get_settings().weights_dir / f"checkpoints-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    (folder / "passwd.pth").write_bytes(Path("/etc/passwd").read_bytes())
    torch.save({"conv.weight": torch.zeros(3, 3)}, folder / "other-model.pth")
    dataset_id = dataset_with_images(committed_db, 2)
    factory = make_sessionmaker(committed_db)
    expected = {
        "passwd.pth": "CodecError: passwd.pth is not a readable PyTorch checkpoint",
        "other-model.pth": f"CodecError: {folder.name}/other-model.pth is not a mbt2018-mean",
    }
    run_ids = {}
    with factory.begin() as session:
        for name in expected:
            params = {"path": f"{folder.name}/{name}", "arch": "mbt2018-mean", "device": "cpu"}
            run_ids[name] = service.create_run(
                session,
                RunCreate(dataset_id=dataset_id, codec="checkpoint", params=params, maps=[]),
                actor=None,
            ).id
    for name, run_id in run_ids.items():
        wait_for(lambda r=run_id: run_status(committed_db, r) == "done", 60, f"{name}'s run")
        results = results_of(committed_db, run_id)
        assert [r.status for r in results] == ["failed", "failed"]
        assert all((r.error or "").startswith(expected[name]) for r in results), results[0].error


@pytest.fixture
def desynced_codec() -> Iterator[str]:
    """The shipped codec with a bitstream that is not its input's while its flag file
    exists (tests/workers/desynced_codec.py), registered as ``desynced`` for one test."""
    registry.register("desynced", "tests.workers.desynced_codec:DesyncedCodec")
    yield "desynced"
    registry.unregister("desynced")


def test_a_decode_that_disagrees_with_forward_is_invalid_never_proposed_and_retried(
    committed_client: TestClient,
    committed_db: Engine,
    celery_worker_thread: None,
    desynced_codec: str,
    tmp_path: Path,
) -> None:
    dataset_id = dataset_with_images(committed_db, 2)
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    desync_flag = tmp_path / "desync"
    desync_flag.touch()
    runs = {}
    for name, codec, params in (
        ("sound", "miscomp-mbt-low", {"device": "cpu"}),
        ("desynced", desynced_codec, {"device": "cpu", "desync_while": str(desync_flag)}),
    ):
        created = committed_client.post(
            "/api/runs",
            headers=csrf,
            json={
                "dataset_id": dataset_id,
                "codec": codec,
                "params": params,
                "match_jpeg": False,
                "maps": [],
            },
        )
        assert created.status_code == 201, created.text
        runs[name] = created.json()["id"]
    for run_id in runs.values():
        wait_for(lambda r=run_id: run_status(committed_db, r) == "done", what="run done")

    invalid = results_of(committed_db, runs["desynced"])
    assert [r.status for r in invalid] == ["invalid", "invalid"]
    for result in invalid:
        mismatch = result.environment["decode_forward_max_abs_diff"]
        assert mismatch > MAX_DECODE_MISMATCH
        assert result.error == (
            f"invalid decode: decompress() differs from forward() by up to {mismatch} levels "
            f"(limit {MAX_DECODE_MISMATCH})"
        )
        assert result.recon_key is not None and result.metrics == {}  # kept, never measured
    sound = results_of(committed_db, runs["sound"])
    assert [r.status for r in sound] == ["done", "done"]

    page = html.unescape(committed_client.get(f"/runs/{runs['desynced']}").text)
    assert "0 done, 0 failed, 2 invalid" in page
    assert page.count('<tr class="outcome-invalid">') == 2
    for result in invalid:
        assert f"<td>invalid: {result.error}</td>" in page
    assert "Retry failed" in page

    study = committed_client.post(
        "/api/studies",
        headers=csrf,
        json={
            "name": "over a desynced run",
            "run_ids": list(runs.values()),
            "crop_sizes": [64],
            "items": 12,
            "methods": ["random"],
            "quotas": {"random": 1.0},
            "raters_per_item": 1,
            "panes": ["original", "reconstruction"],
        },
    )
    assert study.status_code == 201, study.text
    study_id = study.json()["id"]

    def proposal_finished() -> dict[str, Any] | None:
        current: dict[str, Any] = committed_client.get(f"/api/studies/{study_id}").json()
        return current if current["status"] != "proposing" else None

    assert wait_for(proposal_finished, what="the study's proposal")["status"] == "open"
    with Session(committed_db) as session:
        proposed_results = set(
            session.scalars(select(StudyItem.result_id).where(StudyItem.study_id == study_id))
        )
    assert proposed_results == {r.id for r in sound}  # every item from the sound run, none else

    desync_flag.unlink()  # the codec decodes what it coded again
    retried = committed_client.post(f"/runs/{runs['desynced']}/retry", headers=csrf)
    assert retried.status_code == 303, retried.text
    assert "invalid" not in {r.status for r in results_of(committed_db, runs["desynced"])}
    wait_for(
        lambda: (
            run_status(committed_db, runs["desynced"]) == "done"
            and all(r.status == "done" for r in results_of(committed_db, runs["desynced"]))
        ),
        what="the retried run",
    )
    for result in results_of(committed_db, runs["desynced"]):
        assert result.error is None and result.attempts == 2
        assert result.environment["decode_forward_max_abs_diff"] <= MAX_DECODE_MISMATCH
        assert result.metrics["psnr_rgb"] > 0


def test_a_worker_killed_while_post_processing_leaves_the_run_to_finish_whole(
    committed_db: Engine,
) -> None:
    """Issue 18: SIGKILL in the middle of the metrics, maps and matched-JPEG step. After a
    restart the step is redone: every artefact the result names exists, none is missing, and
    the run holds one result per image (nothing duplicated)."""
    rng = np.random.default_rng(18)
    # A photograph-sized image of smooth noise: its maps and the JPEG search take seconds.
    base = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    big = PILImage.fromarray(base).resize((2000, 1500), PILImage.Resampling.BICUBIC)
    with Session(committed_db, expire_on_commit=False) as session:
        dataset = make_dataset(session, f"runs-{uuid.uuid4().hex[:8]}")
        store_image(session, dataset.id, big, "large.png")
        store_image(session, dataset.id, big.crop((0, 0, 400, 300)), "small.png")
        session.commit()
    factory = make_sessionmaker(committed_db)
    with factory.begin() as session:
        run_id = service.create_run(
            session,
            RunCreate(dataset_id=dataset.id, codec="webp", params={"quality": 5}, match_jpeg=True),
            actor=None,
        ).id
    env = {**os.environ, "MISCOMP_TASK_VISIBILITY_TIMEOUT_S": "3"}
    first = start_worker(env)
    try:
        wait_for(
            lambda: any(r.status == "postprocessing" for r in results_of(committed_db, run_id)),
            120,
            "the first worker to start post-processing",
        )
    finally:
        stop_process(first, signal.SIGKILL)
    assert any(r.status == "postprocessing" for r in results_of(committed_db, run_id))
    second = start_worker(env)
    try:
        wait_for(lambda: run_status(committed_db, run_id) == "done", 240, "the run to finish")
    finally:
        stop_process(second, signal.SIGTERM)
    results = results_of(committed_db, run_id)
    assert len(results) == 2  # one per image: the redone step made no second result
    storage = LocalMediaStorage(get_settings().media_root)
    for result in results:
        assert result.status == "done", result.error
        assert result.metrics.get("psnr_rgb") and result.jpeg_metrics.get("psnr_rgb")
        assert result.jpeg_status == "matched" and result.jpeg_key
        maps = [result.maps.get(kind) for kind in ("difference", "ssim", "ciede2000")]
        for key in (result.recon_key, result.jpeg_key, *maps):
            assert isinstance(key, str) and storage.exists(key), key
