"""Reconstructions made elsewhere, imported from a manifest and measured by the workers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.codec_runs.imports import import_manifest
from app.codec_runs.models import CodecResult, CodecRun
from app.config import get_settings
from app.datasets.models import Dataset, Image
from app.db import make_sessionmaker
from app.errors import InvalidInput
from app.storage import LocalMediaStorage
from tests.conftest import login_new_admin
from tests.factories import zip_bytes
from tests.workers.helpers import dataset_with_images, run_status, wait_for

pytestmark = pytest.mark.worker


def _originals(engine: Engine, dataset_id: int) -> list[tuple[Image, np.ndarray]]:
    storage = LocalMediaStorage(get_settings().media_root)
    with Session(engine) as session:
        images = list(
            session.scalars(select(Image).where(Image.dataset_id == dataset_id).order_by(Image.id))
        )
    return [(i, np.asarray(PILImage.open(storage.local_path(i.storage_key)))) for i in images]


def _write_recon(folder: Path, name: str, pixels: np.ndarray) -> str:
    PILImage.fromarray(pixels).save(folder / name)
    return name


def test_manifest_rows_become_measured_results(
    committed_db: Engine, celery_worker_thread: None, tmp_path: Path
) -> None:
    dataset_id = dataset_with_images(committed_db, 2)
    (first, a), (second, b) = _originals(committed_db, dataset_id)
    rows = [
        {
            "image": first.filename,
            "reconstruction": _write_recon(tmp_path, "a.png", a // 2 * 2),
            "bytes": 1200,
            "codec": "bpg-0.9.8",
            "params": '{"qp": 37}',
        },
        {
            "image": second.pixels_sha256,
            "reconstruction": _write_recon(tmp_path, "b.png", b),
            "bpp": 0.25,
            "codec": "bpg-0.9.8",
            "params": '{"qp": 37}',
        },
        {"image": first.filename, "reconstruction": "a.png", "bpp": 0.5, "codec": "vtm-17"},
    ]
    manifest = tmp_path / "manifest.csv"
    header = "image,reconstruction,bytes,bpp,codec,params\n"
    manifest.write_text(
        header
        + "".join(
            f"{r['image']},{r['reconstruction']},{r.get('bytes', '')},{r.get('bpp', '')},"
            f'{r["codec"]},"{r.get("params", "").replace(chr(34), chr(34) * 2)}"\n'
            for r in rows
        )
    )
    factory = make_sessionmaker(committed_db)
    storage = LocalMediaStorage(get_settings().media_root)
    with factory.begin() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        runs = import_manifest(session, storage, dataset, manifest)
        run_ids = {run.params["label"]: run.id for run in runs}
    assert set(run_ids) == {"bpg-0.9.8", "vtm-17"}
    for run_id in run_ids.values():
        wait_for(lambda r=run_id: run_status(committed_db, r) == "done", what="post-processing")
    with Session(committed_db) as session:
        bpg = list(
            session.scalars(
                select(CodecResult)
                .where(CodecResult.run_id == run_ids["bpg-0.9.8"])
                .order_by(CodecResult.image_id)
            )
        )
        run = session.get(CodecRun, run_ids["bpg-0.9.8"])
        assert run is not None
    assert run.params["params"] == {"qp": 37}
    assert [r.bits_source for r in bpg] == ["reported", "reported"]
    assert bpg[0].bits == 1200 * 8
    assert bpg[1].bpp == pytest.approx(0.25, rel=1e-3)
    assert bpg[1].metrics["psnr_rgb"] is None  # identical to the original: infinite PSNR
    assert bpg[0].metrics["max_abs_diff"] == 1
    assert all(r.jpeg_key for r in bpg)


def test_a_manifest_with_any_bad_row_imports_nothing(committed_db: Engine, tmp_path: Path) -> None:
    dataset_id = dataset_with_images(committed_db, 1)
    ((image, pixels),) = _originals(committed_db, dataset_id)
    _write_recon(tmp_path, "good.png", pixels)
    _write_recon(tmp_path, "small.png", pixels[:10, :10])
    PILImage.fromarray(pixels).convert("RGBA").save(tmp_path / "alpha.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    rows = [
        {"image": image.filename, "reconstruction": "good.png", "bpp": 0.3, "codec": "x"},
        {"image": "nope.png", "reconstruction": "good.png", "bpp": 0.3, "codec": "x"},
        {"image": image.filename, "reconstruction": "small.png", "bpp": 0.3, "codec": "y"},
        {"image": image.filename, "reconstruction": "alpha.png", "bpp": 0.3, "codec": "z"},
        {"image": image.filename, "reconstruction": "broken.png", "bpp": 0.3, "codec": "w"},
        {"image": image.filename, "reconstruction": "missing.png", "bpp": 0.3, "codec": "v"},
        {"image": image.filename, "reconstruction": "good.png", "bpp": 0.3, "codec": "x"},
    ]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(rows))
    factory = make_sessionmaker(committed_db)
    with factory() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        with pytest.raises(InvalidInput) as error:
            import_manifest(
                session, LocalMediaStorage(get_settings().media_root), dataset, manifest
            )
        session.rollback()
    message = str(error.value)
    assert "nothing imported" in message
    assert "row 2: no image 'nope.png'" in message
    assert "row 3:" in message and "is 10x10, the original" in message
    assert "row 4:" in message and "is RGBA; expected 8-bit RGB" in message
    assert "row 5:" in message and "not a readable image" in message
    assert "row 6:" in message and "does not exist" in message
    assert "row 7: a second reconstruction" in message
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(CodecRun)) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("image,reconstruction,codec\na.png,b.png,x\n", "give bytes or bpp"),
        ("image,reconstruction,codec,bpp\na.png,b.png,x,-1\n", "must be positive"),
        ("image,codec,bpp\na.png,x,0.2\n", "reconstruction is missing"),
        ("image,reconstruction,codec,bpp,params\na.png,b.png,x,0.2,{oops\n", "params is not"),
    ],
)
def test_malformed_manifests_are_refused(tmp_path: Path, content: str, message: str) -> None:
    from app.domain.manifest import ManifestError, parse_manifest

    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(manifest)


def _staging_dirs() -> set[Path]:
    staging = get_settings().media_root / "staging"
    return set(staging.iterdir()) if staging.exists() else set()


def test_api_import_takes_a_manifest_and_a_zip_of_reconstructions(
    committed_client: TestClient, committed_db: Engine, tmp_path: Path
) -> None:
    dataset_id = dataset_with_images(committed_db, 1)
    ((image, pixels),) = _originals(committed_db, dataset_id)
    csrf = {"X-CSRF-Token": login_new_admin(committed_client, committed_db)}
    staged_before = _staging_dirs()
    recon = io.BytesIO()
    PILImage.fromarray(pixels).save(recon, format="PNG")
    manifest = f"image,reconstruction,bpp,codec\n{image.filename},out/a.png,0.2,hific-lo\n"
    good_zip = zip_bytes({"out/a.png": recon.getvalue()})
    response = committed_client.post(
        "/api/runs/import",
        headers=csrf,
        data={"dataset_id": str(dataset_id)},
        files=[
            ("manifest", ("m.csv", manifest.encode(), "text/csv")),
            ("archive", ("r.zip", good_zip, "application/zip")),
        ],
    )
    assert response.status_code == 201, response.text
    (run,) = response.json()
    assert run["codec"] == "imported" and run["params"]["label"] == "hific-lo"
    assert run["progress"]["total"] == 1

    hostile = zip_bytes({"out/a.png": recon.getvalue(), "../escape.png": b"x"})
    refused = committed_client.post(
        "/api/runs/import",
        headers=csrf,
        data={"dataset_id": str(dataset_id)},
        files=[
            ("manifest", ("m.csv", manifest.encode(), "text/csv")),
            ("archive", ("r.zip", hostile, "application/zip")),
        ],
    )
    assert refused.status_code == 422
    assert "../escape.png: path with '..' refused" in refused.json()["detail"]
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(CodecRun)) == 1
    assert not list(tmp_path.parent.rglob("escape.png"))
    assert _staging_dirs() == staged_before, "the upload's staging folder is removed"


def test_browser_form_imports_reconstructions(
    committed_client: TestClient, committed_db: Engine
) -> None:
    dataset_id = dataset_with_images(committed_db, 1)
    ((image, pixels),) = _originals(committed_db, dataset_id)
    csrf = login_new_admin(committed_client, committed_db)
    recon = io.BytesIO()
    PILImage.fromarray(pixels).save(recon, format="PNG")
    archive = zip_bytes({"a.png": recon.getvalue()})
    form = {"csrf_token": csrf, "dataset_id": str(dataset_id), "match_jpeg": "yes"}

    bad = f"image,reconstruction,bpp,codec\nmissing.png,a.png,0.2,vtm\n{image.filename},a.png,,x\n"
    refused = committed_client.post(
        "/runs/import",
        data=form,
        files=[
            ("manifest", ("m.csv", bad.encode(), "text/csv")),
            ("archive", ("r.zip", archive, "application/zip")),
        ],
    )
    assert refused.status_code == 422
    assert "give bytes or bpp" in refused.text

    good = f"image,reconstruction,bpp,codec\n{image.filename},a.png,0.2,vtm-17\n"
    accepted = committed_client.post(
        "/runs/import",
        data=form,
        files=[
            ("manifest", ("m.csv", good.encode(), "text/csv")),
            ("archive", ("r.zip", archive, "application/zip")),
        ],
    )
    assert accepted.status_code == 303
    page = committed_client.get(accepted.headers["location"])
    assert "imported" in page.text and "vtm-17" in page.text
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(CodecRun)) == 1
