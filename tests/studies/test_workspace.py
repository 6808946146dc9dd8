"""The workspace's server side: boxes, descriptions, confidence and "seen in" are checked and
stored by pane name; the form moves to the next item as an htmx fragment, keeps what the rater
entered when it is refused, and the next item is leased ahead for prefetching."""

from __future__ import annotations

import html
import json
import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.studies import assignment, service
from app.studies.models import Annotation, AnnotationRevision, Assignment, Study, StudyItem
from app.users.models import User
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import annotators, blind_study, finished_run, open_study_with_items

HX = {"HX-Request": "true"}


def _annotator(client: TestClient, engine: Engine) -> tuple[int, str]:
    with Session(engine, expire_on_commit=False) as session:
        user = make_user(session, Role.ANNOTATOR)
        session.commit()
    return user.id, login(client, user)


def _pane_map(engine: Engine, assignment_id: int) -> dict[str, str]:
    with Session(engine) as session:
        lease = session.get(Assignment, assignment_id)
        assert lease is not None
        return dict(lease.pane_map)


def _annotation_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Annotation)) or 0


def test_boxes_and_panes_are_checked_and_stored_by_pane_name(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db))
    _, csrf = _annotator(committed_client, committed_db)
    headers = {"X-CSRF-Token": csrf}
    lease = committed_client.post(f"/api/studies/{study_id}/next", headers=headers).json()
    url = f"/api/assignments/{lease['assignment_id']}/annotation"
    good = {
        "client_id": "boxes-0001",
        "verdict": "miscompression",
        "categories": ["shape"],
        "modifiers": ["symbol"],
        "seen_in": ["B", "A"],
        "confidence": 4,
        "original_shows": "  the digit 8 ",
        "compressed_shows": "the digit 6",
        "boxes": [{"pane": "A", "x": 10, "y": 20, "w": 54, "h": 4}],
    }
    refusals = {
        "outside the crop": {"boxes": [{"pane": "A", "x": 60, "y": 0, "w": 5, "h": 5}]},
        "no such pane": {"boxes": [{"pane": "C", "x": 0, "y": 0, "w": 5, "h": 5}]},
        "empty box": {"boxes": [{"pane": "A", "x": 0, "y": 0, "w": 0, "h": 5}]},
        "seen in the original": {"seen_in": ["original"]},
        "seen in, but no miscompression": {
            "verdict": "no_miscompression",
            "categories": [],
            "modifiers": [],
        },  # fmt: skip
        "confidence 6": {"confidence": 6},
        "51 boxes": {"boxes": [{"pane": "A", "x": 0, "y": 0, "w": 1, "h": 1}] * 51},
    }
    for reason, change in refusals.items():
        refused = committed_client.post(
            url, headers=headers, json={**good, **change, "client_id": uuid.uuid4().hex}
        )
        assert refused.status_code == 422, reason
    assert _annotation_count(committed_db) == 0  # a refusal changes nothing

    stored = committed_client.post(url, headers=headers, json=good)
    assert stored.status_code == 201, stored.text
    panes = _pane_map(committed_db, lease["assignment_id"])
    with Session(committed_db) as session:
        annotation = session.scalars(select(Annotation)).one()
        assert annotation.seen_in == [panes["A"], panes["B"]]  # pane names, in pane order
        assert annotation.boxes == [{"pane": panes["A"], "x": 10, "y": 20, "w": 54, "h": 4}]
        assert (annotation.confidence, annotation.original_shows) == (4, "the digit 8")
        assert annotation.compressed_shows == "the digit 6"
    # The rater reads their annotation back under the labels they saw, never pane names.
    (mine,) = committed_client.get("/api/annotations/mine", headers=headers).json()
    assert mine["seen_in"] == ["A", "B"]
    assert mine["boxes"] == [{"pane": "A", "x": 10, "y": 20, "w": 54, "h": 4}]
    assert "reconstruction" not in json.dumps(mine) and "jpeg" not in json.dumps(mine)


def _form(csrf: str, page_text: str, **fields: str | list[str]) -> dict[str, str | list[str]]:
    client_id = re.search(r'name="client_id" value="([^"]+)"', page_text)
    assert client_id is not None
    return {"csrf_token": csrf, "client_id": client_id.group(1), **fields}


def test_the_form_answers_with_the_next_item_and_keeps_a_refused_entry(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db))
    _, csrf = _annotator(committed_client, committed_db)
    first = committed_client.post(
        f"/annotate/studies/{study_id}/next", headers={"X-CSRF-Token": csrf}
    )
    item_url = first.headers["location"]
    page = committed_client.get(item_url)
    ahead_url = re.search(r'data-ahead="([^"]+)"', page.text)
    assert ahead_url is not None and ahead_url.group(1) == f"{item_url}/ahead"
    prefetch = committed_client.post(ahead_url.group(1), headers={"X-CSRF-Token": csrf}).json()
    prefetch = prefetch["urls"]
    assert len(prefetch) == 4  # the next item's original, A, B and thumbnail
    again = committed_client.post(ahead_url.group(1), headers={"X-CSRF-Token": csrf}).json()
    assert again["urls"] == prefetch  # leased once, however often asked

    # Refused (no verdict): the same item comes back with the reason and what was typed.
    refused = committed_client.post(
        item_url,
        headers=HX,
        data=_form(csrf, page.text, original_shows="a red light", boxes="[]"),
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text and 'id="workspace"' in refused.text
    assert "choose a verdict" in refused.text
    assert 'value="a red light"' in refused.text
    assert "HX-Push-Url" not in refused.headers
    unreadable = committed_client.post(
        item_url, headers=HX, data=_form(csrf, page.text, verdict="unsure", boxes="{oops")
    )
    assert unreadable.status_code == 422 and "boxes could not be read" in unreadable.text
    assert _annotation_count(committed_db) == 0

    # Accepted: the answer is the next item's workspace, whose images were prefetched.
    box = {"pane": "B", "x": 1, "y": 2, "w": 3, "h": 4}
    accepted = committed_client.post(
        item_url,
        headers=HX,
        data=_form(
            csrf,
            page.text,
            verdict="miscompression",
            categories=["amplitude"],
            seen_in=["B"],
            confidence="2",
            boxes=json.dumps([box]),
        ),  # fmt: skip
    )
    assert accepted.status_code == 200 and "<html" not in accepted.text
    next_url = accepted.headers["HX-Push-Url"]
    assert next_url != item_url and next_url.startswith("/annotate/items/")
    shown = set(re.findall(r"/media/signed/[A-Za-z0-9_-]+\.png", accepted.text))
    assert set(prefetch) <= shown
    # The answer names the images of the item after it (leased with it) for the browser to
    # fetch now: nothing else to ask for.
    assert "data-ahead" not in accepted.text
    named = re.search(r"data-prefetch='([^']*)'", accepted.text)
    assert named is not None
    after = json.loads(html.unescape(named.group(1)))
    assert len(after) == 4 and not set(after) & set(prefetch)
    assert all(committed_client.get(url).status_code == 200 for url in after)
    with Session(committed_db) as session:
        annotation = session.scalars(select(Annotation)).one()
        lease = session.get(Assignment, annotation.assignment_id)
        assert lease is not None
        assert annotation.boxes == [{**box, "pane": lease.pane_map["B"]}]
        assert (annotation.categories, annotation.confidence) == (["amplitude"], 2)

    # A double submit (the same client id) stores nothing more and still moves on.
    again = committed_client.post(
        item_url,
        headers=HX,
        data=_form(csrf, page.text, verdict="miscompression", categories=["amplitude"]),
    )
    assert again.status_code == 200 and _annotation_count(committed_db) == 1

    # That submission id sent for the next item is refused there, and the next item stays
    # open, with nothing of it stored.
    reused = committed_client.post(
        next_url, headers=HX, data=_form(csrf, page.text, verdict="unsure")
    )
    assert reused.status_code == 422, reused.status_code
    assert "belongs to another submission" in reused.text
    assert _annotation_count(committed_db) == 1
    with Session(committed_db) as session:
        next_lease = session.get(Assignment, int(next_url.rsplit("/", 1)[1]))
        assert next_lease is not None and next_lease.status == "leased"

    # Revising through the form keeps the first version.
    revise_url = f"/annotate/annotations/{annotation.id}"
    form = committed_client.get(revise_url)
    assert '"pane": "B"' in form.text.replace("&#34;", '"')  # the box, under its shown label
    revised = committed_client.post(
        revise_url,
        headers=HX,
        data=_form(
            csrf,
            form.text,
            verdict="unsure",
            base_revision="1",
            boxes="[]",
            compressed_shows="maybe",
        ),  # fmt: skip
    )
    assert revised.status_code == 204 and revised.headers["HX-Redirect"] == "/annotate/history"
    with Session(committed_db) as session:
        revisions = list(
            session.scalars(select(AnnotationRevision).order_by(AnnotationRevision.number))
        )
    assert [(r.verdict, len(r.boxes), r.compressed_shows) for r in revisions] == [
        ("miscompression", 1, ""),
        ("unsure", 0, "maybe"),
    ]

    # The history shows the item's original crop, and no compared pane of it (blinding).
    history = committed_client.get("/annotate/history")
    with Session(committed_db) as session:
        item = session.get(StudyItem, annotation.item_id)
        assert item is not None
    assert f'src="/media/assets/{item.assets["original"]}.png"' in history.text
    assert f'href="{item_url}" data-testid="history-item">Item 1<' in history.text
    in_history = [pane for pane, token in item.assets.items() if token in history.text]
    assert in_history == ["original"]


def test_the_last_item_answers_with_the_finished_page(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id, _ = open_study_with_items(committed_db, 1, raters_per_item=1)
    _, csrf = _annotator(committed_client, committed_db)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
    first = committed_client.post(
        f"/annotate/studies/{study_id}/next", headers={"X-CSRF-Token": csrf}
    )
    item_url = first.headers["location"]
    skipped = committed_client.post(f"{item_url}/skip", headers={**HX, "X-CSRF-Token": csrf})
    assert skipped.status_code == 200
    assert skipped.headers["HX-Retarget"] == "#main"
    assert 'data-testid="study-finished"' in skipped.text


def test_leasing_ahead_respects_k_and_caps_and_is_idempotent(committed_db: Engine) -> None:
    study_id, _ = open_study_with_items(committed_db, 3, raters_per_item=1)
    capped_id, _ = open_study_with_items(committed_db, 3, raters_per_item=1, per_rater_cap=1)
    first, second = annotators(committed_db, 2)
    with Session(committed_db, expire_on_commit=False) as session:
        study, capped = session.get(Study, study_id), session.get(Study, capped_id)
        one, two = session.get(User, first), session.get(User, second)
        assert study and capped and one and two
        assert assignment.lease_ahead(session, study, one) is None  # nothing current yet
        current = assignment.next_item(session, study, one)
        ahead = assignment.lease_ahead(session, study, one)
        assert current is not None and ahead is not None and ahead.item_id != current.item_id
        assert assignment.lease_ahead(session, study, one).id == ahead.id  # type: ignore[union-attr]
        assert assignment.next_item(session, study, one).id == current.id  # type: ignore[union-attr]
        # Both places of the first rater are taken (k = 1): the other rater gets the third.
        other = assignment.next_item(session, study, two)
        assert other is not None and other.item_id not in (current.item_id, ahead.item_id)
        assert assignment.lease_ahead(session, study, two) is None
        # Finishing the current item makes the one leased ahead current.
        assignment.finish(session, current.id, one, status="done")
        assert assignment.next_item(session, study, one).id == ahead.id  # type: ignore[union-attr]
        # A cap of one item: nothing is leased ahead.
        assert assignment.next_item(session, capped, one) is not None
        assert assignment.lease_ahead(session, capped, one) is None


def _progress(page_text: str) -> str:
    found = re.search(r'data-testid="item-progress">([^<]+)<', page_text)
    assert found is not None
    return found.group(1)


def test_progress_and_a_finished_item_shown_read_only_then_revised(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id, _ = open_study_with_items(committed_db, 3, raters_per_item=1, per_rater_cap=2)
    _, csrf = _annotator(committed_client, committed_db)
    first = committed_client.post(
        f"/annotate/studies/{study_id}/next", headers={"X-CSRF-Token": csrf}
    )
    item_url = first.headers["location"]
    page = committed_client.get(item_url)
    assert _progress(page.text) == "Item 1 of 3 · 1 left · your cap 2 items"
    done = committed_client.post(
        item_url, headers=HX, data=_form(csrf, page.text, verdict="unsure", note="blurry")
    )
    assert done.status_code == 200
    second_url = done.headers["HX-Push-Url"]
    assert _progress(done.text) == "Item 2 of 3 · 0 left · your cap 2 items"

    # Back to the first (a page load, as the browser's Back button does): the labels given,
    # read-only, with Revise; no skipping, no leasing ahead, the same number.
    finished = committed_client.get(item_url)
    assert finished.status_code == 200
    assert _progress(finished.text) == "Item 1 of 3 · 1 left · your cap 2 items"
    assert 'data-finished="done"' in finished.text and "data-revise" in finished.text
    assert re.search(r'<fieldset class="label-fields" data-label-fields\s+disabled>', finished.text)
    assert re.search(r'value="unsure"[^>]*checked', finished.text)
    assert ">blurry</textarea>" in finished.text
    assert 'id="skip"' not in finished.text and "data-ahead" not in finished.text
    with Session(committed_db) as session:
        annotation = session.scalars(select(Annotation)).one()
    action = f'action="/annotate/annotations/{annotation.id}"'
    assert action in finished.text and 'name="then" value="next"' in finished.text

    # Revised from there: a new revision through the revision route, then the rater's
    # current item again (not their history).
    revised = committed_client.post(
        f"/annotate/annotations/{annotation.id}",
        headers=HX,
        data=_form(
            csrf, finished.text, verdict="no_miscompression", base_revision="1", then="next"
        ),
    )
    assert revised.status_code == 200 and revised.headers["HX-Push-Url"] == second_url
    with Session(committed_db) as session:
        annotation = session.scalars(select(Annotation)).one()
        assert (annotation.verdict, annotation.revision, annotation.late) == (
            "no_miscompression",
            2,
            False,
        )
        assert session.scalar(select(func.count()).select_from(AnnotationRevision)) == 2

    # The history names the item by its number, linking back to it.
    history = committed_client.get("/annotate/history")
    assert f'<a href="{item_url}" data-testid="history-item">Item 1</a>' in history.text

    # A skipped item says so, and offers neither labels to submit nor revise.
    skipped = committed_client.post(f"{second_url}/skip", headers={**HX, "X-CSRF-Token": csrf})
    assert skipped.status_code == 200
    again = committed_client.get(second_url)
    assert "You skipped this item." in again.text and "data-revise" not in again.text
    assert _progress(again.text) == "Item 2 of 3 · 1 left · your cap 2 items"


def test_a_large_study_counts_what_is_left_only_up_to_a_bound(
    committed_client: TestClient, committed_db: Engine
) -> None:
    """Counting every open item of a study on each item shown would scan the study each time;
    past ``LEFT_COUNTED_UP_TO`` the workspace says "1000+ left", and below it (here within a
    cap) the exact number."""
    bound = service.LEFT_COUNTED_UP_TO
    large_id, _ = open_study_with_items(committed_db, bound + 2, raters_per_item=1)
    capped_id, _ = open_study_with_items(
        committed_db, bound + 2, raters_per_item=1, per_rater_cap=bound
    )
    _, csrf = _annotator(committed_client, committed_db)
    for study_id, expected in (
        (large_id, f"Item 1 of {bound + 2} · {bound}+ left"),
        (capped_id, f"Item 1 of {bound + 2} · {bound - 1} left · your cap {bound} items"),
    ):
        page = committed_client.post(
            f"/annotate/studies/{study_id}/next", headers={**HX, "X-CSRF-Token": csrf}
        )
        assert page.status_code == 200
        assert _progress(page.text) == expected
