"""Sweeps as the API and the run form take them: all or nothing, with every refused value
named, and the runs of a sweep shown together."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecRun, CodecSweep
from app.domain.codecs.classical import RD_LADDER
from tests.codec_runs.helpers import admin_with_dataset


def _counts(db: Session) -> tuple[int, int]:
    return (
        db.scalar(select(func.count()).select_from(CodecRun)) or 0,
        db.scalar(select(func.count()).select_from(CodecSweep)) or 0,
    )


def test_a_sweep_with_a_bad_value_queues_nothing_and_names_it(
    client: TestClient, db: Session
) -> None:
    csrf, dataset_id = admin_with_dataset(client, db)
    refused: list[tuple[str, dict[str, object], str, object, str]] = [
        (
            "jpeg",
            {},
            "quality",
            [10, 150, 0],
            "quality=150: quality: must be at most 100; quality=0: quality: must be at least 1",
        ),
        ("jpeg", {}, "quality", [10, 10.0], "quality=10.0 gives the same run as an earlier"),
        ("jpeg", {"quality": 5}, "quality", [10, 20], "quality is the swept parameter"),
        ("jpeg", {}, "qualty", [10, 20], "qualty: is not one of the accepted fields"),
        ("miscomp-mbt-low", {}, "quality", "ladder", "miscomp-mbt-low has no quality ladder"),
        ("compressai", {}, "quality", "ladder", "sweep: arch: choose one of"),
        ("nope", {}, "quality", [1, 2], "unknown codec 'nope'"),
    ]
    for codec, params, param, values, message in refused:
        response = client.post(
            "/api/sweeps",
            headers={"X-CSRF-Token": csrf},
            json={
                "dataset_id": dataset_id,
                "codec": codec,
                "params": params,
                "sweep": {"param": param, "values": values},
            },
        )
        assert response.status_code == 422, response.text
        assert message in response.text, response.text
    assert _counts(db) == (0, 0)

    form = {
        "csrf_token": csrf,
        "dataset_id": str(dataset_id),
        "codec": "webp",
        "params": "{}",
        "seeds": "0",
        "sweep_param": "quality",
        "sweep_values": "10, 101",
    }
    page = client.post("/runs", data=form)
    assert page.status_code == 422
    assert "quality=101: quality: must be at most 100" in page.text
    assert 'value="10, 101"' in page.text and 'value="quality"' in page.text
    page = client.post("/runs", data={**form, "sweep_values": "5,,9"})
    assert page.status_code == 422 and "an empty value between commas" in page.text
    page = client.post("/runs", data={**form, "sweep_param": " ", "sweep_values": "5, 9"})
    assert page.status_code == 422 and "name the parameter the values are for" in page.text
    assert _counts(db) == (0, 0)


def test_a_ladder_sweep_queues_one_run_per_quality_shown_together(
    client: TestClient, db: Session
) -> None:
    csrf, dataset_id = admin_with_dataset(client, db)
    response = client.post(
        "/api/sweeps",
        headers={"X-CSRF-Token": csrf},
        json={
            "dataset_id": dataset_id,
            "codec": "jpeg",
            "params": {"subsampling": "4:4:4"},
            "maps": [],
            "sweep": {"param": "quality", "values": "ladder"},
        },
    )
    assert response.status_code == 201, response.text
    sweep = response.json()
    assert (sweep["codec"], sweep["param"], sweep["values"]) == ("jpeg", "quality", [*RD_LADDER])
    runs = sweep["runs"]
    assert [r["params"]["quality"] for r in runs] == list(RD_LADDER)
    assert {r["params"]["subsampling"] for r in runs} == {"4:4:4"}
    assert {r["sweep_id"] for r in runs} == {sweep["id"]}
    assert client.get(f"/api/sweeps/{sweep['id']}").json() == sweep
    assert client.get("/api/sweeps/999999").status_code == 404

    form = {
        "csrf_token": csrf,
        "dataset_id": str(dataset_id),
        "codec": "webp",
        "params": "{}",
        "seeds": "0",
        "sweep_param": "quality",
        "sweep_values": "10, 40",
    }
    created = client.post("/runs", data=form)
    assert created.status_code == 303, created.text
    webp = db.scalar(select(CodecSweep).where(CodecSweep.codec == "webp"))
    assert webp is not None and created.headers["location"] == f"/runs?sweep={webp.id}"
    listing = client.get(created.headers["location"])
    assert f"Sweep {webp.id}" in listing.text and "webp over quality = 10, 40" in listing.text
    assert listing.text.count("<tr><td><a href=") == 2
    dataset_page = client.get(f"/datasets/{dataset_id}").text
    assert f"Sweep {sweep['id']}</a>: jpeg over quality = 5, 10, 20, 30, 50, 70, 90" in dataset_page
    assert f"Sweep {webp.id}</a>: webp over quality = 10, 40" in dataset_page
    assert client.get("/runs?sweep=999999").status_code == 404
