"""Proposing a study's items from a finished codec run: quotas, exact crop pixels, random
crops' inclusion probabilities, controls, and a re-run that changes nothing."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.config import get_settings
from app.db import make_sessionmaker
from app.domain import crops
from app.domain.roles import Role
from app.storage import LocalMediaStorage
from app.studies import proposals, service, task_names
from app.studies.models import Study, StudyAsset, StudyItem
from app.studies.schemas import StudyCreate
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import finished_run


def _pixels(storage: LocalMediaStorage, key: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(storage.read(key))).convert("RGB"))


def test_a_study_is_proposed_by_quota_with_exact_crops(committed_db: Engine) -> None:
    run_id = finished_run(committed_db)
    storage = LocalMediaStorage(get_settings().media_root)
    with Session(committed_db, expire_on_commit=False) as session:
        study = service.create_study(
            session,
            StudyCreate(
                name="proposals",
                run_ids=[run_id],
                crop_sizes=[64, 128],
                items=20,
                planted_controls=True,
                panes=["original", "reconstruction", "jpeg", "difference"],
                seed=7,
            ),
            actor=None,
        )
        assert session.info.pop("miscomp_jobs") == [(task_names.PROPOSE.name, (study.id,), None)]
        session.commit()
    factory = make_sessionmaker(committed_db)
    assert proposals.propose(factory, storage, get_settings(), study.id) == "open"
    with Session(committed_db) as session:
        study = session.get(Study, study.id)
        assert study is not None
        items = list(session.scalars(select(StudyItem).where(StudyItem.study_id == study.id)))
        results = {r.id: r for r in session.scalars(select(CodecResult))}
        assets = {a.token: a.storage_key for a in session.scalars(select(StudyAsset))}
        from app.datasets.models import Image as StoredImage

        images = {i.id: i for i in session.scalars(select(StoredImage))}
    methods = [i.method for i in items]
    assert len(items) == 20
    assert methods.count("random") == 6 and methods.count("control") == 2
    assert methods.count("guided") + methods.count("text") == 12
    assert sorted(i.position for i in items) == list(range(20))
    assert study.proposal_report["items"]["random"] == 6
    assert study.proposal_report["shortfall"] == {"guided": 0}
    assert study.proposal_report["ocr"].startswith("tesseract")
    total_units = sum(
        crops.random_positions(images[r.image_id].width, images[r.image_id].height, 64)
        for r in results.values()
    )
    for item in items:
        image = images[item.image_id]
        assert 0 <= item.x <= image.width - item.size and 0 <= item.y <= image.height - item.size
        assert item.share_percent == pytest.approx(
            100 * item.size**2 / (image.width * image.height), abs=1e-3
        )
        panes = {"original", "reconstruction", "jpeg", "difference"}
        heat_maps = {"ssim_map", "ciede2000_map"} if item.kind == "crop" else set()
        context = {
            f"context{f}:{p}" for f in (2, 4) for p in ("original", "reconstruction", "jpeg")
        }
        assert set(item.assets) == panes | heat_maps | context | {"thumbnail"}
        _assert_context_is_the_wider_window(storage, assets, item, images[item.image_id])
        window = (slice(item.y, item.y + item.size), slice(item.x, item.x + item.size))
        original = _pixels(storage, images[item.image_id].storage_key)[window]
        shown = _pixels(storage, assets[item.assets["reconstruction"]])
        assert np.array_equal(_pixels(storage, assets[item.assets["original"]]), original)
        result = results[item.result_id]
        jpeg = _pixels(storage, result.jpeg_key)[window]
        assert np.array_equal(_pixels(storage, assets[item.assets["jpeg"]]), jpeg)
        if item.kind == "crop":
            assert np.array_equal(shown, _pixels(storage, result.recon_key)[window])
            heat = _pixels(storage, assets[item.assets["ciede2000_map"]])
            assert np.array_equal(heat, _pixels(storage, result.maps["ciede2000"])[window])
        elif item.kind == "control_identity":
            assert np.array_equal(shown, original)
        else:
            assert item.kind == "control_planted" and item.evidence["planted"]
            changed = np.any(shown != original, axis=2)
            assert 0 < changed.mean() < 0.1  # a small disc, nothing else
        if item.method == "random" and item.size == 64:
            assert item.inclusion_probability == pytest.approx(3 / total_units)
        if item.method in ("guided", "text"):
            assert item.inclusion_probability is None and item.score > 0
    # No PNG carries anything but pixels (blinding: no metadata names a codec).
    for key in assets.values():
        assert Image.open(io.BytesIO(storage.read(key))).info == {}
    # A redelivered task changes nothing.
    assert proposals.propose(factory, storage, get_settings(), study.id) == "open"
    with Session(committed_db) as session:
        count = len(list(session.scalars(select(StudyItem.id))))
    assert count == 20


def _assert_context_is_the_wider_window(
    storage: LocalMediaStorage, assets: dict[str, str], item: StudyItem, image: object
) -> None:
    """Each pane 2x and 4x wider shows exactly the image around the crop, and what the
    crop's pane shows at the crop's place inside it (a planted change included)."""
    width, height = image.width, image.height  # type: ignore[attr-defined]
    box = crops.Box(item.x, item.y, item.size)
    original = _pixels(storage, image.storage_key)  # type: ignore[attr-defined]
    for factor in (2, 4):
        window = crops.context_window(box, factor, width, height)
        assert window is not None
        assert window.size == min(item.size * factor, width, height)
        assert window.x <= item.x and item.x + item.size <= window.x + window.size
        assert window.y <= item.y and item.y + item.size <= window.y + window.size
        cut = (slice(window.y, window.y + window.size), slice(window.x, window.x + window.size))
        wide = _pixels(storage, assets[item.assets[f"context{factor}:original"]])
        assert np.array_equal(wide, original[cut])
        shown = _pixels(storage, assets[item.assets[f"context{factor}:reconstruction"]])
        inner = (
            slice(item.y - window.y, item.y - window.y + item.size),
            slice(item.x - window.x, item.x - window.x + item.size),
        )
        crop_shown = _pixels(storage, assets[item.assets["reconstruction"]])
        assert np.array_equal(shown[inner], crop_shown)
        if item.kind == "control_planted":
            outside = np.ones(shown.shape[:2], dtype=bool)
            outside[inner] = False
            assert np.array_equal(shown[outside], wide[outside])
    thumbnail = _pixels(storage, assets[item.assets["thumbnail"]])
    assert thumbnail.shape[:2][::-1] == crops.thumbnail_size(width, height)
    assert max(thumbnail.shape[:2]) == crops.THUMBNAIL_SIDE


def test_text_crops_find_the_characters_a_codec_changed(committed_db: Engine) -> None:
    run_id = finished_run(committed_db, params={"quality": 2})
    storage = LocalMediaStorage(get_settings().media_root)
    with Session(committed_db, expire_on_commit=False) as session:
        study = service.create_study(
            session,
            StudyCreate(
                name="text", run_ids=[run_id], crop_sizes=[128], methods=["text"], items=10,
                quotas={"guided": 1.0},
            ),
            actor=None,
        )  # fmt: skip
        session.info.pop("miscomp_jobs")
        session.commit()
    proposals.propose(make_sessionmaker(committed_db), storage, get_settings(), study.id)
    with Session(committed_db) as session:
        items = list(session.scalars(select(StudyItem).where(StudyItem.study_id == study.id)))
    assert items and all(i.method == "text" for i in items)
    assert all(i.evidence["before"] != i.evidence["after"] for i in items)


def test_a_study_needs_finished_runs_and_consistent_options(committed_db: Engine) -> None:
    with Session(committed_db) as session, pytest.raises(Exception, match="not found"):
        service.create_study(session, StudyCreate(name="x", run_ids=[999]), actor=None)
    with pytest.raises(ValueError, match="sum to 1"):
        StudyCreate(name="x", run_ids=[1], quotas={"guided": 0.5, "random": 0.2})
    with pytest.raises(ValueError, match="original and the reconstruction"):
        StudyCreate(name="x", run_ids=[1], panes=["original", "jpeg"])
    with pytest.raises(ValueError, match="random method"):
        StudyCreate(name="x", run_ids=[1], methods=["guided"])


def test_a_versus_study_sets_two_runs_of_the_same_images_against_each_other(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_run = finished_run(committed_db)
    with Session(committed_db) as session:
        run = session.get(CodecRun, study_run)
        assert run is not None
        dataset_id = run.dataset_id
    versus_run = finished_run(committed_db, "webp", {"quality": 5}, dataset_id=dataset_id)
    elsewhere = finished_run(committed_db, "webp", {"quality": 5})  # another dataset
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        annotator = make_user(session, Role.ANNOTATOR)
        session.commit()
    csrf = login(committed_client, researcher)
    headers = {"X-CSRF-Token": csrf}
    body = {"name": "head to head", "run_ids": [study_run], "crop_sizes": [64], "items": 4,
            "methods": ["random"], "quotas": {"random": 1.0}, "raters_per_item": 1,
            "blind": False, "panes": ["original", "reconstruction"]}  # fmt: skip
    refused = {
        "versus": committed_client.post(
            "/api/studies",
            headers=headers,
            json={**body, "panes": ["original", "reconstruction", "versus"]},
        ),
        "same": committed_client.post(
            "/api/studies", headers=headers, json={**body, "versus_run_id": study_run}
        ),
        "dataset": committed_client.post(
            "/api/studies", headers=headers, json={**body, "versus_run_id": elsewhere}
        ),
        "missing": committed_client.post(
            "/api/studies", headers=headers, json={**body, "versus_run_id": 2_000_000_000}
        ),
    }
    assert {k: r.status_code for k, r in refused.items()} == {
        "versus": 422, "same": 422, "dataset": 422, "missing": 404,
    }  # fmt: skip
    assert "versus" in refused["versus"].text and "dataset" in refused["dataset"].text
    created = committed_client.post(
        "/api/studies", headers=headers, json={**body, "versus_run_id": versus_run}
    )
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    assert created.json()["panes"] == ["original", "reconstruction", "versus"]
    storage = LocalMediaStorage(get_settings().media_root)
    assert proposals.propose(make_sessionmaker(committed_db), storage, get_settings(), study_id)
    with Session(committed_db) as session:
        items = list(session.scalars(select(StudyItem).where(StudyItem.study_id == study_id)))
        assert len(items) == 4
        for item in items:
            versus = session.get(CodecResult, item.evidence["versus_result_id"])
            assert versus is not None and versus.run_id == versus_run
            assert versus.image_id == item.image_id
            assert versus.recon_key is not None
            expected = _pixels(storage, versus.recon_key)[
                item.y : item.y + item.size, item.x : item.x + item.size
            ]
            asset = session.get(StudyAsset, item.assets["versus"])
            assert asset is not None and asset.item_id == item.id
            assert np.array_equal(_pixels(storage, asset.storage_key), expected)
    # Unblinded: each pane is captioned with its codec and bpp.
    committed_client.cookies.clear()
    csrf = login(committed_client, annotator)
    lease = committed_client.post(
        f"/annotate/studies/{study_id}/next", headers={"X-CSRF-Token": csrf}
    )
    page = committed_client.get(lease.headers["location"])
    labels = re.findall(r'data-testid="pane-label">([^<]+)<', page.text)
    assert labels == ["original", "reconstruction", "versus"]
    captions = re.findall(r'data-testid="pane-caption">([^<]+)<', page.text)
    assert captions[0].startswith("jpeg (") and captions[1].startswith("webp (")
