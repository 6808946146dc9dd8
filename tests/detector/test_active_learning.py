"""Active learning across studies: `miscomp detector train --study` retrains the detector
on a study's labels (counted ratings weighted by their agreement, adjudicated items as
decided) and the study's results page shows its precision at k before and after, measured
on images it never trained on.

The study's truth is one the shipped detector cannot know: raters call every crop of the
bright scenes a miscompression and no crop of the dark ones (a stand-in for what people see
and planted changes do not teach). Retraining must learn it from the labels alone."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app import cli
from app.broker import make_celery
from app.config import Settings, get_settings
from app.db import make_sessionmaker, utcnow
from app.detector import model, retraining, task_names
from app.detector.records import DetectorRetraining
from app.detector.study_labels import (
    crop_score,
    item_labels,
    precision_at_k,
    split,
    study_examples,
)
from app.domain.codecs.learned import sha256_of
from app.domain.roles import Role
from app.errors import Conflict
from app.recovery import sweep_once
from app.storage import media_storage
from app.studies import adjudication
from app.studies.models import Study, StudyItem
from app.studies.schemas import AdjudicationCreate
from app.users.models import User
from tests.conftest import login_new_admin, login_new_user
from tests.factories import make_dataset, make_user, store_image
from tests.studies.helpers import annotators, blind_study, finished_run, label_items

pytest.importorskip("torch", reason="the detector needs torch (installed by make install)")

SCENES = 10
"""Every fifth scene (two of them, one bright and one dark) is held out."""


def _scene(rng: np.random.Generator, bright: bool) -> Image.Image:
    level = 185 if bright else 70
    pixels = rng.normal(level, 18, (128, 128, 3))
    for _ in range(6):  # edges for the codec to blur
        x, y = rng.integers(0, 100, 2)
        pixels[y : y + 24, x : x + 24] += rng.normal(0, 40, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _labelled_study(engine: Engine) -> tuple[int, dict[int, bool]]:
    """A blind study of random crops over a JPEG run of ``SCENES`` scenes, every crop rated
    by three raters as the truth says, with one dissenting rater on a few items; the truth of
    each item."""
    rng = np.random.default_rng(7)
    with Session(engine) as session:
        dataset = make_dataset(session, f"scenes-{uuid.uuid4().hex[:8]}")
        for n in range(SCENES):
            store_image(session, dataset.id, _scene(rng, bright=n % 2 == 0), f"scene-{n}.png")
        session.commit()
        dataset_id = dataset.id
    run_id = finished_run(engine, "jpeg", {"quality": 10}, dataset_id=dataset_id)
    study_id = blind_study(
        engine, run_id, items=60, raters_per_item=3, methods=["random"], quotas={"random": 1.0}
    )
    with Session(engine) as session:
        items = session.scalars(
            select(StudyItem)
            .where(StudyItem.study_id == study_id, StudyItem.kind == "crop")
            .order_by(StudyItem.id)
        ).all()
        names = {i.id: i.filename for i in _images(session, items)}
        truth = {item.id: int(names[item.image_id].split("-")[1][:-4]) % 2 == 0 for item in items}
    raters = annotators(engine, 3)
    rows = []
    for n, (item_id, positive) in enumerate(truth.items()):
        for r, rater in enumerate(raters):
            says = positive if not (n % 4 == 0 and r == 2) else not positive  # a dissent
            rows.append({
                "item_id": item_id, "user_id": rater,
                "verdict": "miscompression" if says else "no_miscompression",
                "categories": ["amplitude"] if says else [],
                "modifiers": ["symbol"] if says and r == 0 else [],
                "confidence": 4, "late": False,
            })  # fmt: skip
    label_items(engine, study_id, rows)
    return study_id, truth


def _images(session: Session, items: list[StudyItem]) -> list[object]:
    from app.datasets.models import Image as StoredImage

    ids = {i.image_id for i in items}
    return list(session.scalars(select(StoredImage).where(StoredImage.id.in_(ids))))


def test_study_labels_weigh_agreement_and_follow_adjudication(committed_db: Engine) -> None:
    study_id, truth = _labelled_study(committed_db)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        labels = item_labels(session, study)
        assert set(labels) == set(truth)
        ordered = list(truth)
        unanimous, dissent = labels[ordered[1]], labels[ordered[0]]
        assert unanimous.weight == 1.0 and unanimous.by == "3 of 3 raters"
        # Two of three agree: one agreeing pair of three.
        assert dissent.weight == pytest.approx(1 / 3, abs=1e-3)
        assert dissent.by == "2 of 3 raters"
        positive = next(labels[i] for i in ordered[1:] if truth[i] and i != ordered[4])
        # OUTPUTS: miscompression, AMPLITUDE, GEOMETRY, SHAPE, SYMBOL (named by one of three).
        assert positive.targets == (1.0, 1.0, 0.0, 0.0, pytest.approx(1 / 3, abs=1e-3))
        negative = next(labels[i] for i in ordered[1:] if not truth[i])
        assert negative.targets == (0.0,) * 5
        # A researcher's decision overrides the raters; "unsure" leaves the item out.
        admin = make_user(session, Role.ADMIN)
        adjudication.decide(session, study, ordered[1], AdjudicationCreate(verdict="unsure"), admin)
        overturned = not truth[ordered[2]]
        adjudication.decide(
            session,
            study,
            ordered[2],
            AdjudicationCreate(
                verdict="miscompression" if overturned else "no_miscompression",
                categories=["shape"] if overturned else [],
            ),
            admin,
        )
        session.flush()
        decided = item_labels(session, study)
        assert ordered[1] not in decided
        assert decided[ordered[2]].by == "adjudicated" and decided[ordered[2]].weight == 1.0
        assert decided[ordered[2]].targets[0] == float(overturned)
        if overturned:
            assert decided[ordered[2]].targets[3] == 1.0  # SHAPE
        session.rollback()


def test_examples_are_the_crops_raters_saw_held_out_by_image(committed_db: Engine) -> None:
    study_id, truth = _labelled_study(committed_db)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        examples = study_examples(session, media_storage(get_settings()), study)
        assert [e.item_id for e in examples] == sorted(truth)
        assert all(e.original.shape == (64, 64, 3) for e in examples)
        train, held_out, how = split(examples)
        assert how == "images"
        held_images = {e.image_id for e in held_out}
        assert len(held_images) == 2 and not held_images & {e.image_id for e in train}
        # A study larger than the limit gives a seeded sample of it, the same each time.
        sample = study_examples(session, media_storage(get_settings()), study, limit=7)
        assert len(sample) == 7 and {e.item_id for e in sample} < set(truth)
        again = study_examples(session, media_storage(get_settings()), study, limit=7)
        assert [e.item_id for e in again] == [e.item_id for e in sample]


def test_precision_at_k_counts_positives_among_the_highest_scores() -> None:
    scores = [0.9, 0.1, 0.8, 0.7, 0.2, 0.6]
    positive = [True, False, False, True, True, True]
    assert precision_at_k(scores, positive, ks=(1, 2, 4, 6, 7)) == {
        "1": 1.0,
        "2": 0.5,
        "4": 0.75,
        "6": round(4 / 6, 4),
    }


def test_retraining_on_a_study_raises_its_precision_and_the_results_page_shows_it(
    committed_db: Engine, committed_client: TestClient, tmp_path: Path
) -> None:
    study_id, truth = _labelled_study(committed_db)
    out = tmp_path / "retrained.pt"
    runner = CliRunner()
    trained = runner.invoke(
        cli.app,
        ["detector", "train", "--study", str(study_id), "--synthetic", "0", "--steps", "120",
         "--out", str(out), "--device", "cpu"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "precision at   5" in trained.output
    with Session(committed_db) as session:
        row = session.scalars(
            select(DetectorRetraining).where(DetectorRetraining.study_id == study_id)
        ).one()
        study = session.get(Study, study_id)
        assert study is not None
        examples = study_examples(session, media_storage(get_settings()), study)
    figures = row.figures
    train, held_out, how = split(examples)
    assert row.split == how == "images" and row.trained_items == len(train)
    assert figures["held_out_items"] == len(held_out)
    assert figures["positives"] == sum(truth[e.item_id] for e in held_out)
    assert row.base_name == "miscomp-detector" and row.model_name == "retrained"
    # The figures are the two detectors' own ranking of the held-out crops.
    before, after = model.Detector(model.shipped_weights()), model.Detector(out)
    positive = [truth[e.item_id] for e in held_out]
    for name, detector in (("before", before), ("after", after)):
        scores = [crop_score(detector, e) for e in held_out]
        assert figures[name]["precision_at_k"] == precision_at_k(scores, positive)
    # What the labels say was learned, on scenes it never saw: bright ones rank first.
    assert figures["after"]["auc"] >= 0.9 > figures["before"]["auc"]
    assert figures["after"]["precision_at_k"]["5"] == 1.0
    # `evaluate --study` ranks every labelled crop (trained on or not) against the labels.
    evaluated = runner.invoke(
        cli.app,
        ["detector", "evaluate", "--study", str(study_id), "--model", str(out), "--json"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    every = json.loads(evaluated.output[evaluated.output.index("{") :])
    assert every["labelled_items"] == len(examples) == len(truth)
    assert every["positives"] == sum(truth.values())
    scores = [crop_score(after, e) for e in examples]
    assert every["precision_at_k"] == precision_at_k(scores, [truth[e.item_id] for e in examples])
    card = after.card
    assert card["metrics"]["studies"][str(study_id)] == figures
    assert row.model_sha256 == sha256_of(out)
    assert card["studies"][0]["id"] == study_id and card["base"]["name"] == "miscomp-detector"

    login_new_admin(committed_client, committed_db)
    page = committed_client.get(f"/studies/{study_id}/results")
    assert page.status_code == 200
    shown = page.text[page.text.index('data-testid="detector-retraining"') :]
    assert "Precision at 5" in shown and "retrained" in shown
    assert f"{figures['before']['precision_at_k']['5']:.2f} → <strong>1.00</strong>" in shown


def test_retraining_refuses_bad_input_and_changes_nothing(
    committed_db: Engine, tmp_path: Path
) -> None:
    with Session(committed_db) as session:
        before = session.scalar(select(func.count()).select_from(DetectorRetraining))
    study_id = blind_study(committed_db, finished_run(committed_db), raters_per_item=1)
    out = tmp_path / "never.pt"
    runner = CliRunner()
    for arguments, said in (
        (["--study", "999999", "--synthetic", "0"], "not found"),
        (["--study", "12345678901234567890", "--synthetic", "0"], ""),
        (["--study", str(study_id), "--synthetic", "0"], "labelled crop items"),
        (["--synthetic", "0"], "--study"),
        (["--synthetic", "100"], "--data"),
        (["--study", str(study_id), "--synthetic", "5", "--data", str(tmp_path)], "at least 8"),
        (["--study", str(study_id), "--synthetic", "0", "--steps", "0"], "--steps"),
        (["--study", str(study_id), "--synthetic", "0", "--base", str(tmp_path / "no.pt")],
         "no detector weights"),
    ):  # fmt: skip
        refused = runner.invoke(cli.app, ["detector", "train", "--out", str(out), *arguments])
        assert refused.exit_code != 0, (arguments, refused.output)
        assert "Traceback" not in refused.output and said in refused.output, refused.output
    for arguments, said in (
        (["--study", str(study_id)], "labelled crop items"),
        ([], "--data DIR"),
        (["--study", "1", "--data", str(tmp_path)], "--data DIR"),
        (["--study", "999999"], "not found"),
    ):
        refused = runner.invoke(cli.app, ["detector", "evaluate", *arguments])
        assert refused.exit_code != 0 and said in refused.output, refused.output
    assert not out.exists()
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(DetectorRetraining)) == before


def test_a_study_never_retrained_says_how_to_retrain(
    committed_db: Engine, committed_client: TestClient
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db))
    login_new_admin(committed_client, committed_db)
    page = committed_client.get(f"/studies/{study_id}/results")
    assert page.status_code == 200
    assert f"miscomp detector train --study {study_id}" in page.text


def _panel_rows(engine: Engine, study_id: int) -> list[DetectorRetraining]:
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(DetectorRetraining).where(DetectorRetraining.study_id == study_id)
            )
        )


def test_a_researcher_retrains_the_detector_from_the_results_page(
    committed_db: Engine,
    committed_client: TestClient,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    study_id, truth = _labelled_study(committed_db)
    request.getfixturevalue("celery_worker_thread")
    csrf = login_new_user(committed_client, committed_db, Role.RESEARCHER)
    url = f"/studies/{study_id}/detector"
    asked = committed_client.post(url, data={"steps": "120", "csrf_token": csrf})
    assert asked.status_code == 200, asked.text
    assert 'hx-trigger="every 2s"' in asked.text  # the panel polls while the worker trains
    again = committed_client.post(url, data={"steps": "120", "csrf_token": csrf})
    assert again.status_code == 422 and "already being retrained" in again.text
    assert len(_panel_rows(committed_db, study_id)) == 1

    deadline = time.monotonic() + 300
    while (row := _panel_rows(committed_db, study_id)[0]).status in ("queued", "running"):
        assert time.monotonic() < deadline, row.status
        time.sleep(0.5)
    assert row.status == "done", row.error
    assert row.done_steps == row.steps == 120 and row.split == "images"
    figures = row.figures
    assert figures is not None
    assert figures["after"]["auc"] >= 0.9 > figures["before"]["auc"]

    panel = committed_client.get(url)
    assert panel.status_code == 200 and "every 2s" not in panel.text
    assert f"{figures['before']['precision_at_k']['5']:.2f} → <strong>" in panel.text
    weights = committed_client.get(f"{url}/{row.id}/weights.pt")
    assert weights.status_code == 200 and "attachment" in weights.headers["content-disposition"]
    saved = tmp_path / "downloaded.pt"
    saved.write_bytes(weights.content)
    assert sha256_of(saved) == row.model_sha256
    detector = model.Detector(saved)
    assert detector.card["metrics"]["studies"][str(study_id)] == figures
    assert detector.card["base"]["name"] == "miscomp-detector"
    page = committed_client.get(f"/studies/{study_id}/results")
    assert f"{url}/{row.id}/weights.pt" in page.text


def test_the_results_page_refuses_bad_retraining_requests_and_changes_nothing(
    committed_db: Engine, committed_client: TestClient
) -> None:
    study_id, _ = _labelled_study(committed_db)
    unlabelled = blind_study(committed_db, finished_run(committed_db))
    csrf = login_new_user(committed_client, committed_db, Role.RESEARCHER)
    for steps, said in (
        ("NaN", "steps: must be a whole number"),
        ("5", "steps: must be at least 10"),
        ("12345678901234567890", "steps: must be at most 5,000"),
        ("", "steps: must be a whole number"),
    ):
        refused = committed_client.post(
            f"/studies/{study_id}/detector", data={"steps": steps, "csrf_token": csrf}
        )
        assert refused.status_code == 422 and said in refused.text, refused.text
        assert f'value="{steps}"' in refused.text  # what was typed stays in the form
    refused = committed_client.post(
        f"/studies/{unlabelled}/detector", data={"steps": "50", "csrf_token": csrf}
    )
    assert refused.status_code == 422 and "labelled crop items" in refused.text
    for missing in ("999999", "12345678901234567890"):
        answer = committed_client.get(f"/studies/{study_id}/detector/{missing}/weights.pt")
        assert answer.status_code in (404, 422), answer.text
    assert _panel_rows(committed_db, study_id) == _panel_rows(committed_db, unlabelled) == []

    committed_client.cookies.clear()
    csrf = login_new_user(committed_client, committed_db, Role.ANNOTATOR)
    forbidden = committed_client.post(
        f"/studies/{study_id}/detector", data={"steps": "50", "csrf_token": csrf}
    )
    assert forbidden.status_code == 403
    assert _panel_rows(committed_db, study_id) == []


def test_a_retraining_whose_task_redis_lost_is_sent_again_and_runs_once(
    committed_db: Engine, redis_client: redis.Redis
) -> None:
    study_id, _ = _labelled_study(committed_db)
    settings = get_settings()
    factory = make_sessionmaker(committed_db)
    redis_client.flushdb()  # what setting the study up queued (none of it is retraining)
    with factory.begin() as session:
        study = session.get(Study, study_id)
        assert study is not None
        retraining_id = retraining.request_retraining(
            session, study, 10, make_user(session, Role.RESEARCHER)
        ).id
    assert redis_client.llen(task_names.RETRAIN_DETECTOR.queue) == 1
    redis_client.flushdb()  # Redis restarted without its queues
    later = utcnow() + timedelta(hours=2)
    assert _resent_retrainings(factory, settings, later) == [(retraining_id,)]

    assert retraining.run_retraining(factory, settings, retraining_id) == "done"
    finished = _panel_rows(committed_db, study_id)
    # Delivered twice (the lost message and the one sent again): the second finds it done.
    assert retraining.run_retraining(factory, settings, retraining_id) == "done"
    assert _panel_rows(committed_db, study_id)[0].finished_at == finished[0].finished_at
    assert _resent_retrainings(factory, settings, later) == []


def _resent_retrainings(
    factory: sessionmaker[Session], settings: Settings, now: datetime
) -> list[tuple[int, ...]]:
    """What a sweep at ``now`` sends again of the retraining jobs (the study's own report and
    proposal tasks may be sent again too: not this test's concern)."""
    resent = sweep_once(factory, make_celery(settings), settings, now=now).resent
    return [w.args for w in resent if w.task == task_names.RETRAIN_DETECTOR]


def test_two_retraining_requests_at_once_queue_one(committed_db: Engine) -> None:
    study_id, _ = _labelled_study(committed_db)
    factory = make_sessionmaker(committed_db)
    with factory() as session:
        asker = make_user(session, Role.RESEARCHER)
        session.commit()
        asker_id = asker.id
    outcome: list[str] = []

    def second() -> None:
        with factory() as other:
            study = other.get(Study, study_id)
            user = other.get(User, asker_id)
            assert study is not None and user is not None
            try:
                retraining.request_retraining(other, study, 10, user)
                other.commit()
                outcome.append("queued")
            except Conflict as exc:
                outcome.append(exc.message)

    with factory() as first:
        study = first.get(Study, study_id)
        user = first.get(User, asker_id)
        assert study is not None and user is not None
        retraining.request_retraining(first, study, 10, user)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # waits for the first request's transaction
        first.commit()
    thread.join(timeout=30)
    assert outcome and "already being retrained" in outcome[0]
    assert len(_panel_rows(committed_db, study_id)) == 1
