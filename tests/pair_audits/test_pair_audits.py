"""`POST /api/audit`: a researcher uploads a pair, or names a run's result, and a real Celery
worker audits it with the shipped detector; the API shows the report and the page shows the
pair and each region pixel-exact. Bad input is refused with its reason and stores nothing;
annotators may not ask."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.domain.codecs import registry as codecs
from app.domain.roles import Role
from app.pair_audits.models import PairAudit
from tests.conftest import login_new_user, wait_for_job
from tests.studies.helpers import finished_run

pytest.importorskip("torch", reason="the worker's detector needs torch (make install)")


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _pair() -> tuple[bytes, bytes]:
    """A textured scene with a lamp that is out in the reconstruction (JPEG quality 30)."""
    rng = np.random.default_rng(2)
    scene = np.clip(rng.normal(120, 30, (240, 320, 3)), 0, 255).astype(np.uint8)
    original = scene.copy()
    original[60:72, 90:102] = (255, 40, 30)
    changed = scene.copy()
    changed[60:72, 90:102] = (96, 32, 29)
    reconstruction = codecs.build("jpeg", quality=30).encode_decode(changed).reconstruction
    return _png(original), _png(reconstruction)


def _viewer_data(page: str) -> dict[str, Any]:
    start = page.index('<script type="application/json" id="viewer-data">')
    body = page[page.index(">", start) + 1 : page.index("</script>", start)]
    data: dict[str, Any] = json.loads(body)
    return data


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PairAudit)) or 0


def test_an_uploaded_pair_and_a_runs_result_are_audited_by_a_worker(
    committed_client: TestClient, committed_db: Engine, request: pytest.FixtureRequest
) -> None:
    run_id = finished_run(committed_db)
    request.getfixturevalue("celery_worker_thread")
    headers = {"X-CSRF-Token": login_new_user(committed_client, committed_db, Role.RESEARCHER)}
    original, reconstruction = _pair()
    asked = committed_client.post(
        "/api/audit",
        headers=headers,
        files={
            "original": ("lamp.png", original, "image/png"),
            "reconstruction": ("lamp-jpeg.png", reconstruction, "image/png"),
        },
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "queued"
    audit = wait_for_job(committed_client, f"/api/audit/{asked.json()['id']}", headers)
    assert audit["status"] == "done", audit
    report = audit["report"]
    assert audit["title"] == "lamp.png against lamp-jpeg.png"
    assert len(report["regions"]) == 10 and report["width"] == 320
    top = report["regions"][0]
    assert top["x"] <= 96 <= top["x"] + top["size"] and top["y"] <= 66 <= top["y"] + top["size"]
    assert report["risk"] == top["scores"]["miscompression"] > 0.5

    page = committed_client.get(audit["page_url"])
    assert page.status_code == 200 and page.text.count('data-testid="audit-region"') == 10
    # The pixel-exact viewer: the pair, whole; the regions as numbered boxes, each with a
    # button that zooms onto it; the score map to overlay. Every URL it draws serves a PNG.
    viewer = _viewer_data(page.text)
    assert [p["label"] for p in viewer["panes"]] == ["original", "reconstruction"]
    assert (viewer["width"], viewer["height"], viewer["read_only"]) == (320, 240, True)
    assert [(b["x"], b["y"], b["w"]) for b in viewer["boxes"]] == [
        (r["x"], r["y"], r["size"]) for r in report["regions"]
    ]
    assert f'data-show-region="{top["x"]},{top["y"]},{top["size"]}"' in page.text
    assert 'value="detector_map"' in page.text
    for url in [*(p["url"] for p in viewer["panes"]), viewer["maps"]["detector_map"]]:
        served = committed_client.get(url)
        assert served.status_code == 200 and Image.open(io.BytesIO(served.content)).size == (
            320,
            240,
        )
    shown = [("original", (320, 240)), ("score", (320, 240)),
             ("region-1-reconstruction", (64, 64)), ("region-10-difference", (64, 64))]  # fmt: skip
    for name, size in shown:
        image = committed_client.get(f"/audits/{audit['id']}/images/{name}.png")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(image.content)).size == size
    missing = committed_client.get(f"/audits/{audit['id']}/images/region-11-original.png")
    assert missing.status_code == 404

    with Session(committed_db) as session:
        from app.codec_runs.models import CodecResult

        result_id = session.scalar(
            select(CodecResult.id).where(CodecResult.run_id == run_id).limit(1)
        )
    named = committed_client.post("/api/audit", headers=headers, data={"result_id": str(result_id)})
    assert named.status_code == 202, named.text
    audit = wait_for_job(committed_client, f"/api/audit/{named.json()['id']}", headers)
    assert audit["status"] == "done" and audit["result_id"] == result_id
    assert f"run {run_id}" in audit["title"] and audit["bpp"] > 0
    assert audit["report"]["bpp"] == audit["bpp"] and audit["report"]["regions"]
    page = committed_client.get(audit["page_url"]).text
    viewer = f'href="/runs/{run_id}/results/{result_id}" data-testid="viewer-link"'
    assert viewer in page and committed_client.get(f"/runs/{run_id}/results/{result_id}").is_success


def test_bad_input_is_refused_with_its_reason_and_stores_nothing(
    committed_client: TestClient, committed_db: Engine
) -> None:
    headers = {"X-CSRF-Token": login_new_user(committed_client, committed_db, Role.RESEARCHER)}
    original, reconstruction = _pair()
    smaller = _png(np.zeros((40, 40, 3), np.uint8))
    before = _count(committed_db)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"files": {"original": ("a.png", original[:100], "image/png"),
                    "reconstruction": ("b.png", reconstruction, "image/png")}},
         422, "the original"),
        ({"files": {"original": ("a.png", original, "image/png"),
                    "reconstruction": ("b.png", smaller, "image/png")}},
         422, "two images of one size"),
        ({"files": {"original": ("a.png", original, "image/png")}}, 422, "'reconstruction'"),
        ({"data": {"result_id": "12345678901234567890"}}, 422, "whole number"),
        ({"data": {"result_id": "NaN"}}, 422, "whole number"),
        ({"data": {"result_id": "999999"}}, 404, "result 999999 not found"),
        ({"data": {"result_id": "1"},
          "files": {"original": ("a.png", original, "image/png"),
                    "reconstruction": ("b.png", reconstruction, "image/png")}},
         422, "not both"),
    ]  # fmt: skip
    for arguments, code, message in cases:
        answer = committed_client.post("/api/audit", headers=headers, **arguments)
        assert answer.status_code == code, (message, answer.text)
        assert message in answer.text, answer.text
    assert _count(committed_db) == before
    assert committed_client.get("/api/audit/999999", headers=headers).status_code == 404

    committed_client.cookies.clear()
    annotator = {"X-CSRF-Token": login_new_user(committed_client, committed_db, Role.ANNOTATOR)}
    refused = committed_client.post(
        "/api/audit",
        headers=annotator,
        files={"original": ("a.png", original, "image/png"),
               "reconstruction": ("b.png", reconstruction, "image/png")},
    )  # fmt: skip
    assert refused.status_code == 403
    assert _count(committed_db) == before
