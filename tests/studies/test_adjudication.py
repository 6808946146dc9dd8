"""Adjudication: items whose raters disagree go to a queue; a researcher sees every rater's
labels and boxes and records the final label, kept apart from the raters' annotations."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.audit.models import AuditLog
from app.db import make_sessionmaker
from app.domain.roles import Role
from app.studies import adjudication_routes, report_cache, results, routes
from app.studies.models import Adjudication, Annotation, Study, StudyItem
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import annotators, blind_study, finished_run, label_items

NO = {"verdict": "no_miscompression", "categories": [], "modifiers": []}
SHAPE = {"verdict": "miscompression", "categories": ["shape"], "modifiers": ["symbol"]}
AMPLITUDE = {"verdict": "miscompression", "categories": ["amplitude"], "modifiers": []}


def _rows(item: int, raters: list[int], labels: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        {"item_id": item, "user_id": rater, "confidence": 3, "late": False, **label}
        for rater, label in zip(raters, labels, strict=True)
    ]


def test_disagreements_are_queued_and_decided_apart_from_the_labels(
    committed_client: TestClient, committed_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db))
    with Session(committed_db) as session:
        items = list(
            session.scalars(
                select(StudyItem.id)
                .where(StudyItem.study_id == study_id, StudyItem.kind == "crop")
                .order_by(StudyItem.position)
            )
        )
    raters = annotators(committed_db, 3)
    agreed, split, named_apart = items[0], items[1], items[2]
    box = {"pane": "reconstruction", "x": 2, "y": 3, "w": 10, "h": 8}
    rows = (
        _rows(agreed, raters, [NO, NO, NO])
        + _rows(split, raters, [{**SHAPE, "boxes": [box]}, NO, NO])
        + _rows(named_apart, raters, [SHAPE, AMPLITUDE, SHAPE])
    )
    label_items(committed_db, study_id, rows)
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        annotator = make_user(session, Role.ANNOTATOR)
        session.commit()
    csrf = login(committed_client, researcher)
    headers = {"X-CSRF-Token": csrf}

    queue = committed_client.get(f"/api/studies/{study_id}/adjudication", headers=headers).json()
    assert [q["item_id"] for q in queue] == [split, named_apart]  # the least agreed first
    assert queue[0]["verdict_agreement"] == 1 / 3 and not queue[0]["categories_differ"]
    assert queue[1]["verdict_agreement"] == 1.0 and queue[1]["categories_differ"]
    assert queue[0]["ratings"][0]["boxes"] == [box]  # by pane name: adjudication is not blind
    first = committed_client.get(
        f"/api/studies/{study_id}/adjudication?limit=1", headers=headers
    ).json()
    assert [q["item_id"] for q in first] == [split]
    second = committed_client.get(
        f"/api/studies/{study_id}/adjudication?limit=1&page=2", headers=headers
    )
    assert [q["item_id"] for q in second.json()] == [named_apart]
    assert second.headers["X-Total-Count"] == "2"
    past_the_end = committed_client.get(
        f"/api/studies/{study_id}/adjudication?limit=1&page=9", headers=headers
    ).json()
    assert [q["item_id"] for q in past_the_end] == [named_apart]  # the last page
    listed_page = committed_client.get(f"/studies/{study_id}/adjudication")
    assert "2 items with disagreement: 2 still need adjudication, 0 decided" in listed_page.text
    assert 'class="pager"' not in listed_page.text  # one page
    monkeypatch.setattr(adjudication_routes, "ADJUDICATION_PAGE", 1)
    paged = committed_client.get(f"/studies/{study_id}/adjudication?threshold=1.0&page=2").text
    assert re.findall(r'href="/studies/\d+/adjudication/(\d+)"', paged) == [str(named_apart)]
    assert "2–2 of 2 (page 2 of 2)" in paged
    assert 'href="?threshold=1.0&amp;page=1" rel="prev"' in paged  # the threshold is kept
    assert 'rel="next"' not in paged
    monkeypatch.setattr(adjudication_routes, "ADJUDICATION_PAGE", 200)
    strict = committed_client.get(
        f"/api/studies/{study_id}/adjudication?threshold=0.3", headers=headers
    ).json()
    assert [q["item_id"] for q in strict] == [named_apart]  # 1/3 agreement is above 0.3

    page = committed_client.get(f"/studies/{study_id}/adjudication/{split}")
    assert page.status_code == 200 and 'data-testid="rater-labels"' in page.text
    assert re.findall(r'data-testid="pane-label">([^<]+)<', page.text) == [
        "original", "reconstruction", "jpeg"
    ]  # fmt: skip
    assert '"rater":' in page.text  # every rater's boxes, named, drawn on every pane

    refused = committed_client.post(
        f"/studies/{study_id}/adjudication/{split}",
        data={"verdict": "no_miscompression", "categories": ["shape"], "csrf_token": csrf},
    )
    assert refused.status_code == 422 and "choose that verdict" in refused.text
    decided = committed_client.post(
        f"/studies/{study_id}/adjudication/{split}",
        data={
            "verdict": "miscompression",
            "categories": ["shape"],
            "modifiers": ["symbol"],
            "note": "the 8 is a 6 in A",
            "csrf_token": csrf,
        },  # fmt: skip
    )
    assert decided.status_code == 303
    after = committed_client.get(f"/studies/{study_id}/adjudication").text
    assert "2 items with disagreement: 1 still needs adjudication, 1 decided" in after
    shown = committed_client.get(f"/studies/{study_id}/adjudication/{split}").text
    assert f"(id {split}, as in the address)" in shown
    again = committed_client.put(
        f"/api/studies/{study_id}/adjudication/{split}",
        headers=headers,
        json={"verdict": "unsure", "note": "looked again"},
    )
    assert again.status_code == 200 and again.json()["verdict"] == "unsure"
    with Session(committed_db) as session:
        (decision,) = session.scalars(select(Adjudication)).all()
        assert (decision.verdict, decision.adjudicator_id) == ("unsure", researcher.id)
        raw = session.scalars(select(Annotation).where(Annotation.item_id == split)).all()
        assert sorted(a.verdict for a in raw) == ["miscompression", "no_miscompression",
                                                  "no_miscompression"]  # fmt: skip
        versions = session.scalars(
            select(AuditLog).where(AuditLog.entity_type == "adjudication")
        ).all()
        assert [v.action for v in versions] == ["create", "update"]
    listed = committed_client.get(f"/studies/{study_id}/adjudication")
    assert "unsure" in listed.text and 'data-testid="adjudication-queue"' in listed.text
    queue = committed_client.get(f"/api/studies/{study_id}/adjudication", headers=headers).json()
    assert [q["item_id"] for q in queue] == [named_apart, split]  # decided ones last
    missing = committed_client.put(
        f"/api/studies/{study_id}/adjudication/999999", headers=headers, json={"verdict": "unsure"}
    )
    assert missing.status_code == 404

    committed_client.cookies.clear()
    annotator_csrf = login(committed_client, annotator)
    forbidden = committed_client.get(
        f"/api/studies/{study_id}/adjudication", headers={"X-CSRF-Token": annotator_csrf}
    )
    assert forbidden.status_code == 403


def test_the_gallery_shows_confirmed_miscompressions_as_captioned_panels(
    committed_client: TestClient, committed_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.codec_runs.models import CodecResult
    from app.datasets.models import Image as StoredImage

    study_id = blind_study(committed_db, finished_run(committed_db))
    with Session(committed_db) as session:
        items = list(
            session.scalars(
                select(StudyItem)
                .where(StudyItem.study_id == study_id, StudyItem.kind == "crop")
                .order_by(StudyItem.position)
            )
        )
        shown = items[0]
        result = session.get(CodecResult, shown.result_id)
        image = session.get(StoredImage, shown.image_id)
        assert result is not None and image is not None
        session.expunge_all()
    raters = annotators(committed_db, 3)
    rows = (
        _rows(items[0].id, raters, [SHAPE, SHAPE, NO])  # two of three: confirmed, SHAPE+SYMBOL
        + _rows(items[1].id, raters, [SHAPE, NO, NO])  # one of three, then adjudicated
        + _rows(items[2].id, raters, [NO, NO, NO])  # nobody saw one: not in the gallery
    )
    label_items(committed_db, study_id, rows)
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    csrf = login(committed_client, researcher)
    decided = committed_client.put(
        f"/api/studies/{study_id}/adjudication/{items[1].id}",
        headers={"X-CSRF-Token": csrf},
        json={"verdict": "miscompression", "categories": ["amplitude"]},
    )
    assert decided.status_code == 200
    page = committed_client.get(f"/studies/{study_id}/gallery")
    assert page.status_code == 200
    panels = re.findall(r'src="/studies/\d+/gallery/(\d+)\.png"', page.text)
    assert panels == [str(items[0].id), str(items[1].id)]
    assert "SHAPE + SYMBOL (2 of 3 raters)" in page.text and "AMPLITUDE (adjudicated)" in page.text
    monkeypatch.setattr(routes, "GALLERY_PAGE", 1)
    pages = [committed_client.get(f"/studies/{study_id}/gallery?page={n}").text for n in (1, 2)]
    assert [re.findall(r'src="/studies/\d+/gallery/(\d+)\.png"', p) for p in pages] == [
        [str(items[0].id)],
        [str(items[1].id)],
    ]
    assert 'href="?page=2" rel="next"' in pages[0] and 'href="?page=1" rel="prev"' in pages[1]
    monkeypatch.setattr(routes, "GALLERY_PAGE", 50)

    png = committed_client.get(f"/studies/{study_id}/gallery/{items[0].id}.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size[0] > 600  # three panes
    pdf = committed_client.get(f"/studies/{study_id}/gallery/{items[0].id}.pdf")
    assert pdf.content.startswith(b"%PDF")
    svg = committed_client.get(f"/studies/{study_id}/gallery/{items[0].id}.svg").text
    caption = (
        f"compressed: {result.bpp:.2f} bpp {image.width}x{image.height}, "
        f"cropped scene 64x64 ({shown.share_percent:.2f} %)"
    )
    assert f"<!-- {caption} -->" in svg
    assert f"JPEG quality {result.jpeg_quality}" in svg
    missing = committed_client.get(f"/studies/{study_id}/gallery/{items[2].id}.png")
    assert missing.status_code == 404

    # With the workers' report of these labels, the pages read it instead of every
    # annotation, and show the same.
    queue_before = committed_client.get(f"/api/studies/{study_id}/adjudication").json()
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        results.request_report(session, study)
        session.commit()
    assert results.compute_report(make_sessionmaker(committed_db), study_id, replicates=0) == "done"
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        assert report_cache.current_report(session, study) is not None
    cached = committed_client.get(f"/studies/{study_id}/gallery")
    assert re.findall(r'src="/studies/\d+/gallery/(\d+)\.png"', cached.text) == panels
    assert committed_client.get(f"/api/studies/{study_id}/adjudication").json() == queue_before
