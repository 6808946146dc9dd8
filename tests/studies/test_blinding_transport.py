"""Blinding against the transport: what an annotator's browser receives for the panes of one
item (bytes, headers, URLs, their order on the page and in the prefetch) must not tell the
neural pane from the other one by anything but the pixels.

Blind studies over real runs: the shipped neural codec against its bpp-matched JPEG, and two
neural codecs (the shipped one and a CompressAI model) in one study. An annotator walks every
item as the browser does (page, prefetch of the next item, every image it names); for every
item and every context size the panes' responses must be alike, and a rule that guesses the
neural pane from everything but the pixels must be right about half of the time.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from scipy.stats import binomtest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.codec_runs.models import CodecRun
from app.config import get_settings
from app.domain import png
from app.domain.roles import Role
from app.storage import LocalMediaStorage
from app.studies.models import Assignment, StudyAsset, StudyItem
from app.users.models import User
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import blind_study, finished_run

ITEMS_PER_STUDY = 100
VIEWER_DATA = re.compile(r'<script type="application/json" id="viewer-data">(.*?)</script>', re.S)
SIGNED_URL = re.compile(r"^/media/signed/[A-Za-z0-9_-]+\.png$")
PREFETCH = re.compile(r"data-prefetch='([^']*)'")
PNG_HEADER_BYTES = 8 + 25
"""The signature and the IHDR chunk: width, height, bit depth and colour type."""


@dataclass
class Received:
    """One image response as the browser gets it, and where the page named it."""

    url: str
    position: int
    """Its place among the images the page (or the prefetch answer) names."""
    status: int
    headers: dict[str, str]
    body: bytes

    def chunk_layout(self) -> list[tuple[bytes, int]]:
        chunks, offset = [], 8
        while offset < len(self.body):
            length = int.from_bytes(self.body[offset : offset + 4], "big")
            chunks.append((self.body[offset + 4 : offset + 8], length))
            offset += 12 + length
        return chunks


@dataclass
class Item:
    neural_label: str
    groups: dict[str, dict[str, Received]] = field(default_factory=dict)
    """"crop" and "context2", "context4"... -> shown label -> response."""
    prefetched_as: list[str] = field(default_factory=list)
    """The labels of this item's panes in the order the previous item's prefetch named them."""


def _fetch(client: TestClient, url: str, position: int) -> Received:
    response = client.get(url)
    return Received(url, position, response.status_code, dict(response.headers), response.content)


def _walk(client: TestClient, csrf: str, engine: Engine, study_id: int) -> list[Item]:
    """Every item of the study as the annotator's browser receives it in the workspace (each
    answer is the next item's workspace, naming the images of the one after), skipping each."""
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    items: list[Item] = []
    prefetched: list[str] = []
    response = client.post(f"/annotate/studies/{study_id}/next", headers=headers)
    while "HX-Push-Url" in response.headers:
        item_url = response.headers["HX-Push-Url"]
        assert response.status_code == 200
        match = VIEWER_DATA.search(response.text)
        assert match is not None
        viewer = json.loads(match.group(1))
        assignment_id = int(item_url.rsplit("/", 1)[1])
        with Session(engine) as session:
            lease = session.get(Assignment, assignment_id)
            assert lease is not None
            pane_map = dict(lease.pane_map)
        # The study's own codec: neural, against a JPEG or against the versus codec.
        (neural,) = [label for label, pane in pane_map.items() if pane == "reconstruction"]
        item = Item(neural_label=neural)
        named = [pane["url"] for pane in viewer["panes"]]
        item.groups["crop"] = {
            pane["label"]: _fetch(client, pane["url"], named.index(pane["url"]))
            for pane in viewer["panes"]
        }
        for context in viewer["contexts"]:
            urls = list(context["urls"].values())
            item.groups[f"context{context['factor']}"] = {
                label: _fetch(client, url, urls.index(url))
                for label, url in context["urls"].items()
            }
        by_url = {pane["url"]: pane["label"] for pane in viewer["panes"]}
        item.prefetched_as = [by_url[url] for url in prefetched if url in by_url]
        ahead = PREFETCH.search(response.text)
        assert ahead is not None
        prefetched = json.loads(html.unescape(ahead.group(1)))
        items.append(item)
        response = client.post(f"{item_url}/skip", headers=headers)
    assert response.status_code == 200 and 'data-testid="study-finished"' in response.text
    return items


def _blind_studies(engine: Engine) -> list[int]:
    """The shipped neural codec against its matched JPEG, and against a CompressAI model on
    the same images (two neural codecs, head to head)."""
    shipped = finished_run(engine, codec="miscomp-mbt-low", params={"device": "cpu"})
    with Session(engine) as session:
        run = session.get(CodecRun, shipped)
        assert run is not None
        dataset_id = run.dataset_id
    compressai = finished_run(
        engine,
        codec="compressai",
        params={"arch": "bmshj2018-factorized", "quality": 1, "pretrained": False},
        dataset_id=dataset_id,
    )
    options = {"items": ITEMS_PER_STUDY, "methods": ["random"], "quotas": {"random": 1.0}}
    return [
        blind_study(engine, shipped, panes=["original", "reconstruction", "jpeg"], **options),
        blind_study(
            engine,
            shipped,
            panes=["original", "reconstruction", "versus"],
            versus_run_id=compressai,
            **options,
        ),
    ]


def test_the_panes_of_a_blind_item_cannot_be_told_apart_but_by_their_pixels(
    committed_client: TestClient, committed_db: Engine
) -> None:
    with Session(committed_db, expire_on_commit=False) as session:
        annotator = make_user(session, Role.ANNOTATOR)
        session.commit()
    studies = _blind_studies(committed_db)
    csrf = login(committed_client, annotator)
    items = [
        item
        for study_id in studies
        for item in _walk(committed_client, csrf, committed_db, study_id)
    ]
    assert len(items) >= 200

    for number, item in enumerate(items):
        assert set(item.groups) == {"crop", "context2", "context4"}, "every context size"
        for scope, panes in item.groups.items():
            where = f"item {number}, {scope}"
            assert set(panes) == {"original", "A", "B"}, where
            received = list(panes.values())
            assert all(r.status == 200 for r in received), where
            assert all(SIGNED_URL.match(r.url) for r in received), f"URL shape, {where}"
            assert len({len(r.body) for r in received}) == 1, f"byte lengths, {where}"
            assert len({tuple(sorted(r.headers.items())) for r in received}) == 1, where
            assert len({r.body[:PNG_HEADER_BYTES] for r in received}) == 1, f"IHDR, {where}"
            assert len({tuple(r.chunk_layout()) for r in received}) == 1, f"chunks, {where}"
            assert "etag" not in received[0].headers and "last-modified" not in received[0].headers
        # The page names, and the prefetch fetches, panes in the order of their labels.
        assert [p.position for p in item.groups["crop"].values()] == [0, 1, 2]
        if number % ITEMS_PER_STUDY:
            assert item.prefetched_as == ["original", "A", "B"], f"prefetch, item {number}"

    # A curious annotator's best rule without pixels: the bigger pane, then the longer URL,
    # then the one named later, then the later prefetch; it must do no better than a coin.
    def guess(item: Item) -> str:
        def evidence(label: str) -> tuple[object, ...]:
            responses = [panes[label] for panes in item.groups.values()]
            return (
                sum(len(r.body) for r in responses),
                sum(int(r.headers.get("content-length", 0)) for r in responses),
                sum(len(r.url) for r in responses),
                sorted(str(sorted(r.headers.items())) for r in responses),
                sum(r.position for r in responses),
                item.prefetched_as.index(label) if label in item.prefetched_as else -1,
            )

        return max(("A", "B"), key=evidence)

    # The pane map is drawn afresh for every lease, so the count is a fair coin's when nothing
    # leaks: a threshold of 0.001 fails one clean run in a thousand, and a rule right on 62 %
    # of 200 items or more (p < 0.001) still fails it.
    right = sum(guess(item) == item.neural_label for item in items)
    assert binomtest(right, len(items), 0.5).pvalue > 0.001, f"{right} of {len(items)} guessed"


def test_an_items_images_go_only_to_its_raters(
    committed_client: TestClient, committed_db: Engine
) -> None:
    """Crop URLs are scoped to the rater, not only to the study: another annotator of the same
    study gets nothing of an item they never held, while its rater keeps it after rating."""
    study_id = blind_study(committed_db, finished_run(committed_db), items=4)
    with Session(committed_db, expire_on_commit=False) as session:
        first, second = (make_user(session, Role.ANNOTATOR) for _ in range(2))
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
        items = {
            item.id: dict(item.assets)
            for item in session.scalars(select(StudyItem).where(StudyItem.study_id == study_id))
        }

    def lease_next(user: User) -> tuple[int, int, str]:
        """Log in as ``user`` and lease an item: (assignment id, item id, CSRF token)."""
        committed_client.cookies.clear()
        csrf = login(committed_client, user)
        lease = committed_client.post(
            f"/api/studies/{study_id}/next", headers={"X-CSRF-Token": csrf}
        ).json()
        with Session(committed_db) as session:
            row = session.get(Assignment, lease["assignment_id"])
            assert row is not None
            return row.id, row.item_id, csrf

    assignment_id, held_item, csrf = lease_next(first)
    held_urls = [f"/media/assets/{token}.png" for token in items[held_item].values()]
    assert all(committed_client.get(url).status_code == 200 for url in held_urls)
    # Kept by the rater's browser for good (a URL's bytes never change), never by a shared
    # cache, which would hand them to the next one to ask without asking the server.
    assert {committed_client.get(url).headers["cache-control"] for url in held_urls} == {
        "private, max-age=31536000, immutable"
    }
    skipped = committed_client.post(
        f"/annotate/items/{assignment_id}/skip", headers={"X-CSRF-Token": csrf}
    )
    assert skipped.status_code in (200, 303)
    assert all(committed_client.get(url).status_code == 200 for url in held_urls), "held"

    _, own_item, _ = lease_next(second)
    for item_id, assets in items.items():
        expected = 200 if item_id == own_item else 404
        for token in assets.values():
            response = committed_client.get(f"/media/assets/{token}.png")
            assert response.status_code == expected, (item_id, own_item)
    assert len(items) == 4  # so three items' images were refused to the second rater

    committed_client.cookies.clear()
    login(committed_client, researcher)
    for assets in items.values():
        for token in assets.values():
            assert committed_client.get(f"/media/assets/{token}.png").status_code == 200


def test_the_workspaces_image_links_open_only_for_the_session_they_were_made_for(
    committed_client: TestClient, committed_db: Engine
) -> None:
    """The workspace names images by links signed for the rater's browser session, served
    without the database: the same bytes and headers as under their tokens, and nothing for
    another rater, for the same rater in another session, or for an altered link."""
    study_id = blind_study(committed_db, finished_run(committed_db), items=4)
    with Session(committed_db, expire_on_commit=False) as session:
        first, second = (make_user(session, Role.ANNOTATOR) for _ in range(2))
        session.commit()
    csrf = login(committed_client, first)
    page = committed_client.post(
        f"/annotate/studies/{study_id}/next", headers={"HX-Request": "true", "X-CSRF-Token": csrf}
    )
    viewer = json.loads(VIEWER_DATA.findall(page.text)[0])
    links = [pane["url"] for pane in viewer["panes"]]
    assert len(links) == 3 and all(SIGNED_URL.match(url) for url in links)
    assert len({len(url) for url in links}) == 1
    by_token = {
        committed_client.get(url).content: committed_client.get(url).headers for url in links
    }
    with Session(committed_db) as session:
        lease = session.scalars(
            select(Assignment).where(Assignment.user_id == first.id).order_by(Assignment.id)
        ).first()
        assert lease is not None
        item = session.get(StudyItem, lease.item_id)
        assert item is not None
        tokens = [item.assets[pane] for pane in lease.pane_map.values()]
    for token in tokens:
        under_token = committed_client.get(f"/media/assets/{token}.png")
        signed_headers = by_token[under_token.content]
        # Answered before the session middleware (app.signed_media_asgi): no cookie is set.
        assert "set-cookie" not in signed_headers
        assert sorted(signed_headers.items()) == sorted(
            (name, value)
            for name, value in under_token.headers.items()
            if name not in ("set-cookie", "vary")
        )
    # One character of the link's cipher text changed (never to itself).
    altered = links[0][:-8] + ("A" if links[0][-8] != "A" else "B") + links[0][-7:]
    assert altered != links[0]
    assert committed_client.get(altered).status_code == 404

    for someone in (second, first):  # another rater, then the same rater in a new session
        committed_client.cookies.clear()
        login(committed_client, someone)
        assert {committed_client.get(url).status_code for url in links} == {404}
    committed_client.cookies.clear()
    assert {committed_client.get(url).status_code for url in links} == {404}


def test_a_study_proposed_before_padding_is_equalised_in_place(committed_db: Engine) -> None:
    """Blind studies proposed by an older version stored each pane at its own length: the
    operator's `miscomp studies equalise` pads them, keeping pixels and tokens."""
    study_id = blind_study(committed_db, finished_run(committed_db), items=3)
    storage = LocalMediaStorage(get_settings().media_root)
    with Session(committed_db) as session:
        items = list(session.scalars(select(StudyItem).where(StudyItem.study_id == study_id)))
        before = {}
        for item in items:  # as the older version stored them: each pane on its own
            for token in item.assets.values():
                asset = session.get(StudyAsset, token)
                assert asset is not None
                pixels = np.asarray(Image.open(io.BytesIO(storage.read(asset.storage_key))))
                plain = png.encode(pixels, compress_level=6)
                asset.storage_key = f"crops/legacy-{token}.png"
                storage.put(asset.storage_key, plain)
                before[token] = pixels
        session.commit()
        groups = [
            [item.assets[p] for p in ("original", "reconstruction", "jpeg")] for item in items
        ]
        assert any(
            len({len(storage.read(session.get(StudyAsset, t).storage_key)) for t in group}) > 1  # type: ignore[union-attr]
            for group in groups
        )
    result = CliRunner().invoke(cli.app, ["studies", "equalise", str(study_id)])
    assert result.exit_code == 0, result.output
    assert "pane groups re-encoded" in result.output
    with Session(committed_db) as session:
        for group in groups:
            stored = [session.get(StudyAsset, token) for token in group]
            lengths = {len(storage.read(asset.storage_key)) for asset in stored if asset}
            assert len(lengths) == 1
        for token, pixels in before.items():
            asset = session.get(StudyAsset, token)
            assert asset is not None
            decoded = np.asarray(Image.open(io.BytesIO(storage.read(asset.storage_key))))
            assert np.array_equal(decoded, pixels)
    again = CliRunner().invoke(cli.app, ["studies", "equalise", str(study_id)])
    assert again.exit_code == 0 and ": 0 pane groups" in again.output
