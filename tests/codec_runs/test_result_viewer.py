"""The result viewer's pages: a run's results in any metric's order, each result with its
figures and viewer data, stepping through the run in that order, and an image's results from
every run. (The viewer itself, in Chromium: tests/browser/test_result_viewer.py.)"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.codec_runs import service
from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image
from app.domain.result_order import ResultOrder, parse_order
from app.domain.roles import Role
from tests.conftest import database_fingerprint, login
from tests.factories import (
    image_bytes,
    make_dataset,
    make_result,
    make_run,
    make_user,
    store_image,
)

PSNR = {"a.png": 31.5, "b.png": 24.25, "c.png": None, "d.png": 28.0}
"""c.png has no PSNR (identical images store none): it sorts last either way."""


def _world(db: Session) -> tuple[CodecRun, dict[str, CodecResult], dict[str, Image]]:
    dataset = make_dataset(db)
    images = {
        name: store_image(db, dataset.id, PILImage.open(io.BytesIO(image_bytes())), name)
        for name in PSNR
    }
    run = make_run(db, dataset.id, maps=["difference", "ssim", "ciede2000"])
    results = {
        name: make_result(
            db,
            run,
            images[name],
            bpp=0.1 * (i + 1),
            bits_source="stream",
            metrics={"psnr_rgb": psnr, "ms_ssim_rgb": 0.9, "ciede2000_mean": 1.5},
        )
        for i, (name, psnr) in enumerate(PSNR.items())
    }
    db.commit()
    return run, results, images


def _names_in_order(html: str) -> list[str]:
    return re.findall(r'data-testid="view-result">([a-d]\.png)<', html)


def _viewer_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', html)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["a.png", "b.png", "c.png", "d.png"]),
        ("?sort=psnr", ["b.png", "d.png", "a.png", "c.png"]),
        ("?sort=psnr&order=desc", ["a.png", "d.png", "b.png", "c.png"]),
        ("?sort=bpp&order=desc", ["d.png", "c.png", "b.png", "a.png"]),
    ],
)
def test_run_page_lists_results_in_the_chosen_order(
    client: TestClient, db: Session, query: str, expected: list[str]
) -> None:
    run, _, _ = _world(db)
    login(client, make_user(db, Role.RESEARCHER))
    page = client.get(f"/runs/{run.id}{query}")
    assert page.status_code == 200
    assert _names_in_order(page.text) == expected
    # Every viewer link keeps the order, so j and k step through the results as listed.
    if query:
        assert f"/results/{query}" not in page.text
        assert page.text.count(query.replace("&", "&amp;")) >= len(expected)


def test_worst_first_is_said_in_words_and_lpips_shows_only_where_measured(
    client: TestClient, db: Session
) -> None:
    run, results, _ = _world(db)
    login(client, make_user(db, Role.ADMIN))
    page = client.get(f"/runs/{run.id}?sort=psnr").text
    assert "PSNR (dB), ascending (worst first)" in page
    assert "<th>LPIPS" not in page
    results["a.png"].metrics = {**results["a.png"].metrics, "lpips_alex": 0.125}
    db.commit()
    page = client.get(f"/runs/{run.id}?sort=lpips&order=desc").text
    assert "LPIPS (AlexNet), descending (worst first)" in page
    assert "<th>LPIPS (AlexNet)</th>" in page and "0.1250" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?sort=nonsense", "sort: no &#39;nonsense&#39;; choose one of image, bpp, psnr"),
        ("?sort=psnr&order=sideways", "order: no &#39;sideways&#39;; choose asc or desc"),
    ],
)
def test_an_unknown_order_is_refused_in_plain_words(
    client: TestClient, db: Session, query: str, message: str
) -> None:
    run, results, _ = _world(db)
    login(client, make_user(db, Role.RESEARCHER))
    before = database_fingerprint(db)
    for url in (f"/runs/{run.id}", f"/runs/{run.id}/results/{results['a.png'].id}"):
        page = client.get(url + query)
        assert page.status_code == 422
        assert message in page.text
    assert database_fingerprint(db) == before


def test_result_page_shows_figures_and_the_viewer_of_the_whole_image(
    client: TestClient, db: Session
) -> None:
    run, results, images = _world(db)
    result = results["b.png"]
    result.jpeg_key = images["b.png"].storage_key
    result.jpeg_quality = 12
    result.jpeg_bpp = 0.2013
    result.jpeg_target_bpp = 0.2
    result.jpeg_status = "matched"
    result.jpeg_metrics = {"psnr_rgb": 22.75, "ms_ssim_rgb": 0.8}
    result.maps = {"ssim": images["b.png"].storage_key, "ssim_raw": "x.npz"}
    db.commit()
    login(client, make_user(db, Role.RESEARCHER))
    page = client.get(f"/runs/{run.id}/results/{result.id}")
    assert page.status_code == 200
    figures = page.text.split('data-testid="result-metrics"')[1].split("</table>")[0]
    for shown in ("0.2000", "(stream)", "0.2013", "24.25", "22.75", "PSNR (dB)", "MS-SSIM"):
        assert shown in figures
    viewer = _viewer_data(page.text)
    image = images["b.png"]
    assert (viewer["width"], viewer["height"]) == (image.width, image.height)
    assert [(p["label"], p["url"]) for p in viewer["panes"]] == [
        ("original", f"/media/images/{image.id}/pixels.png"),
        ("reconstruction", f"/media/results/{result.id}/reconstruction.png"),
        ("jpeg", f"/media/results/{result.id}/jpeg.png"),
    ]
    assert [p["caption"] for p in viewer["panes"]] == [
        "b.png",
        "jpeg, 0.200 bpp",
        "JPEG quality 12, 0.201 bpp",
    ]
    assert viewer["maps"] == {"ssim_map": f"/media/results/{result.id}/ssim.png"}
    for pane in viewer["panes"]:
        assert client.get(pane["url"]).status_code == 200
    assert 'src="/static/js/result.js"' in page.text


def test_stepping_follows_the_order_the_page_was_opened_with(
    client: TestClient, db: Session
) -> None:
    run, results, _ = _world(db)
    login(client, make_user(db, Role.RESEARCHER))
    ids = {name: r.id for name, r in results.items()}
    # Worst PSNR first: b (24.25), d (28), a (31.5), c (none).
    page = client.get(f"/runs/{run.id}/results/{ids['d.png']}?sort=psnr").text
    link = f'href="/runs/{run.id}/results/{{}}?sort=psnr&amp;order=asc" data-{{}}'
    assert link.format(ids["b.png"], "previous") in page
    assert link.format(ids["a.png"], "next") in page
    assert "2 of 4" in page
    first = client.get(f"/runs/{run.id}/results/{ids['b.png']}?sort=psnr").text
    assert "data-previous" not in first and "1 of 4" in first
    last = client.get(f"/runs/{run.id}/results/{ids['c.png']}?sort=psnr").text
    assert "data-next" not in last and "4 of 4" in last


def test_neighbours_skip_results_without_a_reconstruction(db: Session) -> None:
    run, results, _ = _world(db)
    results["d.png"].recon_key = None
    results["d.png"].status = "failed"
    db.flush()
    steps = service.neighbours(db, results["b.png"], parse_order("psnr", "asc"))
    assert steps == service.Neighbours(1, 3, None, results["a.png"].id)
    failed = service.neighbours(db, results["d.png"], ResultOrder())
    assert failed == service.Neighbours(0, 3, None, None)


def test_a_result_of_another_run_is_not_found(client: TestClient, db: Session) -> None:
    run, results, images = _world(db)
    other = make_run(db, run.dataset_id, params={"quality": 80})
    db.commit()
    login(client, make_user(db, Role.ADMIN))
    page = client.get(f"/runs/{other.id}/results/{results['a.png'].id}")
    assert page.status_code == 404 and f"run {other.id} has no result" in page.text


def test_image_page_lists_its_results_from_every_run(client: TestClient, db: Session) -> None:
    run, results, images = _world(db)
    other = make_run(db, run.dataset_id, codec="webp", params={"quality": 8})
    webp = make_result(db, other, images["a.png"], bpp=0.5, metrics={"psnr_rgb": 33.333})
    pending = make_result(db, other, images["a.png"], seed=1, status="pending", recon_key=None)
    db.commit()
    login(client, make_user(db, Role.RESEARCHER))
    page = client.get(f"/images/{images['a.png'].id}").text
    table = page.split('data-testid="image-reconstructions"')[1].split("</table>")[0]
    assert f'href="/runs/{run.id}/results/{results["a.png"].id}"' in table
    assert f'href="/runs/{other.id}/results/{webp.id}"' in table
    assert "webp" in table and "0.5000" in table and "33.33" in table and "31.50" in table
    assert f"/results/{pending.id}" not in table and "pending" in table
