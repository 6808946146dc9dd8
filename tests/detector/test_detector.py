"""The detector: its crop scores read the map correctly, `miscomp detector train` and
`evaluate` work from any folder of images and refuse bad input, the shipped detector is small,
loads offline and tells planted changes from plain compression, and the ``detector``
proposal method proposes a real study with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.config import get_settings
from app.db import make_sessionmaker
from app.detector import data, model, training
from app.domain import plants
from app.domain.roles import Role
from app.storage import LocalMediaStorage
from app.studies import proposals
from app.studies.models import Study, StudyItem
from tests.conftest import login_new_user
from tests.studies.helpers import finished_run

pytest.importorskip("torch", reason="the detector needs torch (installed by make install)")


def _scenes(folder: Path, count: int = 5) -> Path:
    """Photograph-like images: smooth gradients, noise and a few blocks of colour."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        rng = np.random.default_rng(n)
        yy, xx = np.mgrid[0:180, 0:240] / 240
        pixels = np.stack([90 + 120 * xx, 60 + 150 * yy, 160 - 80 * xx * yy], axis=2)
        pixels += rng.normal(0, 14, pixels.shape)
        for _ in range(6):
            x, y = rng.integers(0, 200), rng.integers(0, 140)
            pixels[y : y + 40, x : x + 40] = rng.integers(0, 256, 3)
        PILImage.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{n}.png")
    return folder


def test_crop_scores_are_the_maps_peak_over_each_crop() -> None:
    rng = np.random.default_rng(0)
    maps = model.ScoreMaps(rng.random((5, 20, 30)).astype(np.float32), 120, 80)
    size, stride = 24, 8
    grid = maps.crop_grid(size, stride)
    assert grid.shape == (-(-(80 - size + 1) // stride), -(-(120 - size + 1) // stride))
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            # Every crop whose corner lies in the cell, its map cells, the highest of them.
            best = max(
                maps.crop_scores(x, y, size)["miscompression"]
                for y in range(i * stride, min((i + 1) * stride, 80 - size + 1))
                for x in range(j * stride, min((j + 1) * stride, 120 - size + 1))
            )
            assert grid[i, j] == pytest.approx(best, abs=1e-4)
    scores = maps.crop_scores(8, 4, 16)
    window = maps.maps[:, 1:5, 2:6]
    assert scores["miscompression"] == pytest.approx(window[0].max(), abs=1e-4)
    assert set(scores) == set(plants.OUTPUTS)
    with pytest.raises(ValueError, match="do not fit"):
        maps.crop_grid(100, 8)


def test_train_and_evaluate_from_a_folder_write_a_model_with_its_card(tmp_path: Path) -> None:
    photos = _scenes(tmp_path / "photos")
    out = tmp_path / "small.pt"
    runner = CliRunner()
    trained = runner.invoke(
        cli.app,
        ["detector", "train", "--data", str(photos), "--out", str(out), "--synthetic", "24",
         "--steps", "6", "--batch-size", "8", "--no-neural", "--device", "cpu",
         "--held-out", "16"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    detector = model.Detector(out)
    card = detector.card
    # The card's metrics: the detector on changes planted into the held-out photograph.
    measured = card["metrics"]["planted_changes_held_out"]
    assert measured["examples"] == 16 and 0.0 <= measured["auc"] <= 1.0
    assert card["data"]["photographs"] == 4 and card["data"]["examples"] == 24
    assert card["seed"] == 0 and card["steps"] == 6 and card["outputs"] == list(plants.OUTPUTS)
    assert card["environment"]["torch"]
    evaluated = runner.invoke(
        cli.app,
        ["detector", "evaluate", "--data", str(photos), "--model", str(out), "--synthetic",
         "16", "--no-neural", "--json"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.output[evaluated.output.index("{") :])
    assert figures["examples"] == 16 and figures["data"]["photographs"] == 1
    assert 0.0 <= figures["auc"] <= 1.0 and 0.0 <= figures["peak_on_change"] <= 1.0
    for args, message in [
        (["train", "--data", str(tmp_path / "none"), "--out", str(out)], "no folder"),
        (["train", "--data", str(photos), "--out", str(out), "--synthetic", "3"], "at least 8"),
        (["evaluate", "--data", str(photos), "--model", str(tmp_path / "x.pt")], "no detector"),
    ]:
        refused = runner.invoke(cli.app, ["detector", *args])
        assert refused.exit_code == 1 and message in refused.output, refused.output


def test_the_shipped_detector_is_small_and_tells_planted_changes_from_compression(
    tmp_path: Path,
) -> None:
    weights = model.shipped_weights()
    assert weights.is_file() and weights.stat().st_size < 10_000_000
    detector = model.load()
    assert detector.card["data"]["examples"] >= 1000
    # Scenes it never saw, JPEG it was trained with: changed crops score above unchanged.
    scenes = sorted(_scenes(tmp_path / "scenes").iterdir())
    photos = [np.asarray(PILImage.open(path).convert("RGB")) for path in scenes]
    choose = data.codec_choice(None)
    examples = data.synthetic(photos, 64, np.random.default_rng(99), choose)
    figures = training.evaluate(detector, examples)
    assert figures["auc"] >= 0.85, figures
    assert figures["auc_against_drawn_objects"] >= 0.8, figures


def test_a_detector_study_is_proposed_with_the_shipped_detector(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    csrf = login_new_user(committed_client, committed_db, Role.RESEARCHER)
    created = committed_client.post(
        "/api/studies",
        headers={"X-CSRF-Token": csrf},
        json={"name": "detected", "run_ids": [run_id], "crop_sizes": [64], "items": 6,
              "methods": ["detector"], "quotas": {"random": 1.0}, "raters_per_item": 1,
              "method_params": {"detector": {"floor": 0.3}}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    both = committed_client.post(
        "/api/studies",
        headers={"X-CSRF-Token": csrf},
        json={"name": "two samples", "run_ids": [run_id], "crop_sizes": [64], "items": 6,
              "methods": ["detector", "random"], "quotas": {"random": 1.0}},
    )  # fmt: skip
    assert both.status_code == 422
    storage = LocalMediaStorage(get_settings().media_root)
    settings = get_settings()
    assert proposals.propose(make_sessionmaker(committed_db), storage, settings, study_id) == "open"
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        items = list(session.scalars(select(StudyItem).where(StudyItem.study_id == study_id)))
    assert len(items) == 6 and {i.method for i in items} == {"detector"}
    for item in items:
        assert item.inclusion_probability is not None and 0 < item.inclusion_probability < 1
        assert set(item.evidence["detector"]) == set(plants.OUTPUTS)
        assert item.score == item.evidence["detector"]["miscompression"]
    assert study.proposal_report["detector"]["name"] == model.SHIPPED
