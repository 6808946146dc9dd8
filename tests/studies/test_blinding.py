"""A blind study as its annotators see it: every page, asset, header and API answer they can
reach is searched for anything that names the codec; then labels are submitted safely."""

from __future__ import annotations

import io
import re
import uuid

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image as StoredImage
from app.domain.roles import Role
from app.studies import service
from app.studies.models import Annotation, AnnotationRevision, Study
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import blind_study, finished_run


def _identity(engine: Engine, run_id: int) -> list[str]:
    """Every string that would tell an annotator which codec made a pane."""
    with Session(engine) as session:
        run = session.get(CodecRun, run_id)
        assert run is not None
        results = list(session.scalars(select(CodecResult).where(CodecResult.run_id == run_id)))
        images = list(session.scalars(select(StoredImage)))
        secrets = [
            run.codec,
            "quality",
            "bpp",
            f"runs/{run.id}",
        ]
        for result in results:
            for key in (result.recon_key, result.jpeg_key):
                assert key is not None
                secrets.append(key.rsplit("/", 1)[1].split(".")[0])  # the content address
        secrets += [i.filename for i in images]
        return secrets


RANDOM_VALUES = re.compile(
    r"/media/(assets|signed)/[A-Za-z0-9_-]+\.png"
    r'|(csrf[-_]token|client_id)"?\s*(content|value)="[^"]*"'
    r'|"X-CSRF-Token": "[^"]*"|session=[^;]*'
)
"""Opaque tokens are random letters: they may spell anything, so they are left out."""


def _assert_blind(text: str, secrets: list[str], where: str) -> None:
    lowered = RANDOM_VALUES.sub("<random>", text).lower()
    for secret in secrets:
        assert secret.lower() not in lowered, f"{secret!r} appears in {where}"


def test_annotators_never_see_which_codec_made_a_pane(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db, codec="webp", params={"quality": 7})
    study_id = blind_study(committed_db, run_id)
    secrets = _identity(committed_db, run_id)
    with Session(committed_db, expire_on_commit=False) as session:
        annotator = make_user(session, Role.ANNOTATOR)
        session.commit()
    csrf = login(committed_client, annotator)
    client = committed_client
    pages = [client.get("/annotate"), client.get("/api/taxonomy")]
    response = client.post(f"/annotate/studies/{study_id}/next", headers={"X-CSRF-Token": csrf})
    rated = 0
    while response.status_code == 303:
        item_url = response.headers["location"]
        page = client.get(item_url)
        assert page.status_code == 200
        pages.append(page)
        labels = re.findall(r'data-testid="pane-label">([^<]+)<', page.text)
        assert labels == ["original", "A", "B"]  # differences are per-pane overlays
        assert re.findall(r'aria-label="Pane ([^,"]+),', page.text) == labels
        # Every image the page names (panes, their wider context, the thumbnail) and the
        # next item's, which the browser asks for to fetch them ahead.
        ahead = client.post(f"{item_url}/ahead", headers={"X-CSRF-Token": csrf})
        assert ahead.status_code == 200
        pages.append(ahead)
        urls = set(re.findall(r"/media/signed/[A-Za-z0-9_-]+\.png", page.text + ahead.text))
        # Both items' three panes and their thumbnails (one link when they share the image).
        assert len(urls) >= 7
        for url in sorted(urls):
            asset = client.get(url)
            assert asset.status_code == 200 and asset.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(asset.content)).info == {}  # no text chunks at all
            pages.append(asset)
        client_id = uuid.uuid4().hex
        response = client.post(
            item_url,
            data={"client_id": client_id, "verdict": "no_miscompression", "csrf_token": csrf},
        )
        rated += 1
    assert response.status_code == 200 and 'data-testid="study-finished"' in response.text
    pages.append(response)
    assert rated == 6
    pages.append(client.post(f"/api/studies/{study_id}/next", headers={"X-CSRF-Token": csrf}))
    # Revising an annotation from the history page: blind too, and kept as revision 2.
    history = client.get("/annotate/history")
    pages.append(history)
    first = re.findall(r'href="(/annotate/annotations/\d+)"', history.text)[-1]
    form = client.get(first)
    pages.append(form)
    assert 'value="no_miscompression" data-shortcut="n" checked' in form.text
    base = re.search(r'name="base_revision" value="(\d+)"', form.text)
    assert base is not None and base.group(1) == "1"
    revised = client.post(
        first,
        data={
            "client_id": uuid.uuid4().hex,
            "base_revision": "1",
            "verdict": "no_miscompression",
            "note": "looked again",
            "csrf_token": csrf,
        },
    )
    assert revised.status_code == 303 and revised.headers["location"] == "/annotate/history"
    pages.append(client.get("/annotate/history"))
    mine = client.get("/api/annotations/mine").json()
    assert sorted(a["revision"] for a in mine) == [1, 1, 1, 1, 1, 2]
    assert [a["note"] for a in mine if a["revision"] == 2] == ["looked again"]
    # Which pane is which must not leak either; the taxonomy's definitions speak of
    # "reconstructions" in general, so they are left out of that search.
    pane_names = [*secrets, "reconstruction", "jpeg"]
    for page in pages:
        where = f"{page.request.method} {page.request.url.path}"
        headers = "\n".join(f"{k}: {v}" for k, v in page.headers.items())
        _assert_blind(headers, pane_names, f"the headers of {where}")
        if page.headers.get("content-type", "").startswith(("text/", "application/json")):
            _assert_blind(page.text, secrets, where)
            if page.request.url.path != "/api/taxonomy":
                without_definitions = re.sub(
                    r'<details class="instructions">.*?</details>', "", page.text, flags=re.S
                )
                _assert_blind(without_definitions, pane_names, where)
    # Every item was called "no miscompression": right on the identity control, and the
    # researchers' report says so per rater.
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None and study.blind
        (rater,) = service.rater_progress(session, study)
        progress = service.progress(session, study)
    assert (rater["done"], rater["controls"], rater["controls_correct"]) == (6, 1, 1)
    assert rater["remaining"] == 0
    assert (progress.ratings_done, progress.remaining, progress.complete_items) == (6, 0, 6)


def test_labels_are_validated_and_a_double_submit_stores_one(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    study_id = blind_study(committed_db, run_id)
    with Session(committed_db, expire_on_commit=False) as session:
        annotator = make_user(session, Role.ANNOTATOR)
        session.commit()
    csrf = login(committed_client, annotator)
    lease = committed_client.post(f"/api/studies/{study_id}/next", headers={"X-CSRF-Token": csrf})
    assert lease.status_code == 200, lease.text
    # No separate difference pane in a blind study: it would tell the reconstruction apart.
    assert set(lease.json()["panes"]) == {"original", "A", "B"}
    url = f"/api/assignments/{lease.json()['assignment_id']}/annotation"
    headers = {"X-CSRF-Token": csrf}
    wrong = committed_client.post(
        url, headers=headers, json={"client_id": "abcdefgh1", "verdict": "maybe"}
    )
    assert wrong.status_code == 422 and "verdict" in wrong.text
    contradictory = committed_client.post(
        url,
        headers=headers,
        json={"client_id": "abcdefgh2", "verdict": "no_miscompression", "categories": ["shape"]},
    )
    assert contradictory.status_code == 422
    body = {
        "client_id": "abcdefgh3",
        "verdict": "miscompression",
        "categories": ["shape", "amplitude"],
        "modifiers": ["symbol"],
        "note": "the 8 became a 6",
    }
    first = committed_client.post(url, headers=headers, json=body)
    again = committed_client.post(url, headers=headers, json=body)  # a retry after a timeout
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    with Session(committed_db) as session:
        stored = list(session.scalars(select(Annotation)))
    assert len(stored) == 1
    assert (stored[0].categories, stored[0].modifiers) == (["amplitude", "shape"], ["symbol"])
    assert stored[0].taxonomy_version_id is not None and not stored[0].late
    other = committed_client.post(url, headers=headers, json={**body, "client_id": "abcdefgh4"})
    assert other.status_code == 409  # the item is rated: changes are revisions (below)

    # Revising: every revision kept, a retried edit applied once, a stale edit refused.
    annotation_id = first.json()["id"]
    edit = {**body, "client_id": "edit-0001", "verdict": "unsure", "categories": [],
            "modifiers": [], "note": "not sure after all", "base_revision": 1}  # fmt: skip
    revised = committed_client.put(f"/api/annotations/{annotation_id}", headers=headers, json=edit)
    retried = committed_client.put(f"/api/annotations/{annotation_id}", headers=headers, json=edit)
    assert revised.status_code == retried.status_code == 200, revised.text
    assert (revised.json()["revision"], retried.json()["revision"]) == (2, 2)
    stale = committed_client.put(
        f"/api/annotations/{annotation_id}",
        headers=headers,
        json={**edit, "client_id": "edit-0002", "verdict": "miscompression"},
    )
    assert stale.status_code == 409 and "revision 2" in stale.text
    mine = committed_client.get("/api/annotations/mine", headers=headers).json()
    assert [(a["id"], a["verdict"], a["revision"]) for a in mine] == [(annotation_id, "unsure", 2)]
    with Session(committed_db) as session:
        history = session.execute(
            select(AnnotationRevision.number, AnnotationRevision.verdict)
            .where(AnnotationRevision.annotation_id == annotation_id)
            .order_by(AnnotationRevision.number)
        ).all()
    assert history == [(1, "miscompression"), (2, "unsure")]


def test_an_unblinded_study_names_codec_bpp_and_quality(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db, codec="webp", params={"quality": 7})
    study_id = blind_study(committed_db, run_id, blind=False, methods=["guided", "text"],
                            quotas={"guided": 1.0})  # fmt: skip
    with Session(committed_db, expire_on_commit=False) as session:
        annotator = make_user(session, Role.ANNOTATOR)
        session.commit()
    csrf = login(committed_client, annotator)
    response = committed_client.post(
        f"/annotate/studies/{study_id}/next", headers={"X-CSRF-Token": csrf}
    )
    page = committed_client.get(response.headers["location"])
    labels = re.findall(r'data-testid="pane-label">([^<]+)<', page.text)
    assert labels == ["original", "reconstruction", "jpeg", "difference"]
    captions = re.findall(r'data-testid="pane-caption">([^<]+)<', page.text)
    assert len(captions) == 2
    assert captions[0].startswith("webp (") and captions[0].endswith(" bpp")
    assert captions[1].startswith("JPEG quality ")
