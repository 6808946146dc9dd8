"""A study's agreement report is computed by a real Celery worker (Redis, PostgreSQL), shown
with its progress, kept while the labels stay the same, and computed again when a label
arrives or is revised."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from app.domain import agreement
from app.studies import results
from app.studies.models import Annotation, Study, StudyResult
from app.users.models import User
from tests.conftest import login_new_admin
from tests.studies.helpers import annotators, label_items, open_study_with_items
from tests.workers.helpers import wait_for


def _simulated_labels(engine: Engine, study_id: int, items: list[int], raters: list[int]) -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, len(items))
    verdicts = ("miscompression", "no_miscompression")
    rows = []
    for item, t in zip(items, truth, strict=True):
        for rater in raters:
            verdict = verdicts[t if rng.random() < 0.85 else 1 - t]
            shape = ["shape"] if verdict == "miscompression" else []
            # A box around the same place, a pixel or two apart between raters.
            jitter = int(rng.integers(0, 3))
            boxes = [{"pane": "reconstruction", "x": 10 + jitter, "y": 10, "w": 20, "h": 20}]
            rows.append({"item_id": item, "user_id": rater, "verdict": verdict,
                         "categories": shape, "modifiers": [],
                         "boxes": boxes if shape else [],
                         "confidence": int(rng.integers(3, 6)), "late": False})  # fmt: skip
    label_items(engine, study_id, rows)


def test_the_report_is_computed_on_a_worker_and_kept_until_labels_change(
    committed_client: TestClient, committed_db: Engine, celery_worker_thread: None
) -> None:
    study_id, items = open_study_with_items(committed_db, 60)
    raters_ids = annotators(committed_db, 3)
    _simulated_labels(committed_db, study_id, items, raters_ids)
    login_new_admin(committed_client, committed_db)

    first = committed_client.get(f"/api/studies/{study_id}/agreement")
    assert first.status_code == 200 and first.json()["status"] in ("queued", "running", "done")

    def finished() -> dict[str, object] | None:
        answer = committed_client.get(f"/api/studies/{study_id}/agreement").json()
        return answer if answer["status"] == "done" and not answer["stale"] else None

    report = wait_for(finished, 120, "the agreement report")
    by_key = {q["key"]: q for q in report["questions"]}  # type: ignore[attr-defined]
    assert set(by_key) >= {"verdict", "category:shape", "modifier:symbol", "confidence"}
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        expected = results.study_agreement(session, study)
    verdict = next(r.report for r in expected if r.question.key == "verdict")
    assert by_key["verdict"]["krippendorff_alpha"] == verdict.krippendorff_alpha.value
    assert by_key["verdict"]["krippendorff_alpha_ci95"] == list(verdict.krippendorff_alpha.ci)
    assert by_key["modifier:symbol"]["krippendorff_alpha"] is None  # nobody marked SYMBOL
    assert any("no variation" in note for note in by_key["modifier:symbol"]["notes"])
    assert report["progress"] == {"done": len(expected), "total": len(expected)}  # type: ignore[index]
    regions = report["regions"]  # type: ignore[index]
    assert regions["threshold"] == 0.5 and regions["n_boxes"] > 0
    assert regions["matched_share"]["value"] > 0.5 and regions["mean_iou"]["value"] > 0.8
    assert regions["alpha"]["value"] is not None
    raters = report["raters"]  # type: ignore[index]
    assert [r["ratings"] for r in raters] == [60, 60, 60]
    assert all(0.5 < r["agreement_with_others"] < 1 for r in raters)
    pairs = verdict.cohen_kappa_pairs
    with Session(committed_db) as session:
        first = session.get(User, raters_ids[0])
        assert first is not None
    (first_rater,) = [r for r in raters if r["rater"] == first.username]
    mine = [e.value for pair, e in pairs.items() if raters_ids[0] in pair]
    assert first_rater["cohen_kappa_mean"] == sum(mine) / len(mine)  # type: ignore[operator, arg-type]
    confusion = report["category_confusion"]  # type: ignore[index]
    assert confusion["labels"] == ["amplitude", "geometry", "shape", "none"]
    counts = np.array(confusion["counts"])
    assert np.allclose(counts, counts.T) and counts.sum() == 60 * 3 * 2  # ordered pairs
    assert counts[0].sum() == 0 and counts[2, 2] > 0

    # The page shows the table; asking again computes nothing new.
    page = committed_client.get(f"/studies/{study_id}/results")
    assert 'data-testid="agreement-table"' in page.text and "undefined" in page.text
    assert 'data-testid="rater-table"' in page.text
    assert 'data-testid="category-confusion"' in page.text
    assert 'data-testid="region-agreement"' in page.text
    assert "Items rated once count in the chance agreement of Fleiss" in page.text
    for fmt, magic in (("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG")):
        plot = committed_client.get(f"/studies/{study_id}/results/agreement.{fmt}")
        assert plot.status_code == 200 and plot.content.startswith(magic), fmt
    svg = committed_client.get(f"/studies/{study_id}/results/agreement.svg").text
    assert "<!-- SYMBOL -->" in svg and "<!-- Gwet&#39;s AC1 -->" in svg.replace("'", "&#39;")
    with Session(committed_db) as session:
        computed_at = session.query(StudyResult).one().computed_at
    committed_client.get(f"/api/studies/{study_id}/agreement")
    with Session(committed_db) as session:
        assert session.query(StudyResult).one().computed_at == computed_at

    # A revised label makes the report stale; the worker computes it again.
    with Session(committed_db) as session:
        session.execute(
            update(Annotation)
            .where(Annotation.item_id == items[0], Annotation.user_id == raters_ids[0])
            .values(verdict="unsure", categories=[], revision=Annotation.revision + 1)
        )
        session.commit()
    stale = committed_client.get(f"/api/studies/{study_id}/agreement").json()
    assert stale["stale"] is True and stale["status"] in ("queued", "running", "done")
    again = wait_for(finished, 120, "the report of the revised labels")
    assert again["computed_at"] != report["computed_at"]
    new_alpha = {q["key"]: q for q in again["questions"]}["verdict"]["krippendorff_alpha"]  # type: ignore[attr-defined]
    assert new_alpha != by_key["verdict"]["krippendorff_alpha"]


def test_the_command_waits_for_the_report_with_a_progress_bar(
    committed_db: Engine, celery_worker_thread: None
) -> None:
    import json

    from typer.testing import CliRunner

    from app.cli import app as cli

    study_id, items = open_study_with_items(committed_db, 30)
    _simulated_labels(committed_db, study_id, items, annotators(committed_db, 3))
    runner = CliRunner()
    waited = runner.invoke(cli, ["studies", "results", str(study_id)])
    assert waited.exit_code == 0, waited.output
    assert "Verdict" in waited.output and "krippendorff_alpha" in waited.output
    answer = runner.invoke(cli, ["studies", "results", str(study_id), "--json", "--no-wait"])
    assert answer.exit_code == 0, answer.output
    report = json.loads(answer.output)
    assert report["status"] == "done" and not report["stale"]
    assert {q["key"] for q in report["questions"]} >= {"verdict", "confidence"}
    assert report["definitions"] == [agreement.SINGLE_RATINGS_NOTE]
    missing = runner.invoke(cli, ["studies", "results", "999999"])
    assert missing.exit_code == 1 and "error:" in missing.output
