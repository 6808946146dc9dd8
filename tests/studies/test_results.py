"""A study labelled by simulated raters of known reliability: the agreement reported for
each question recovers the simulated truth, and late ratings and controls stay out."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.domain import prevalence
from app.studies import results
from app.studies.models import Annotation, Study, StudyItem
from tests.studies.helpers import annotators, finished_run, label_items, open_study_with_items

VERDICTS = ("miscompression", "no_miscompression", "unsure")


def _expected_agreement(prior: np.ndarray, p: float) -> float:
    """Chance-corrected agreement, for many units, of raters who give the true value with
    probability p and otherwise guess uniformly among the values."""
    q = len(prior)
    given = p * np.eye(q) + (1 - p) / q  # given[t, v] = P(v | truth t)
    observed = float(prior @ (given**2).sum(axis=1))
    pi = prior @ given
    expected = float((pi**2).sum())
    return (observed - expected) / (1 - expected)


def test_agreement_recovers_simulated_raters(committed_db: Engine) -> None:
    n_items, p_verdict, p_shape = 400, 0.8, 0.7
    study_id, items = open_study_with_items(committed_db, n_items + 1)
    control = items.pop()
    with Session(committed_db) as session:
        session.execute(
            update(StudyItem).where(StudyItem.id == control).values(kind="control_identity")
        )
        session.commit()
    raters = annotators(committed_db, 3)
    rng = np.random.default_rng(2026)
    prior = np.array([0.3, 0.6, 0.1])
    truth = rng.choice(3, size=n_items, p=prior)
    shape_truth = rng.random(n_items) < 0.5
    rows = []
    for item, t, s in zip(items, truth, shape_truth, strict=True):
        for rater in raters:
            verdict = t if rng.random() < p_verdict else rng.integers(0, 3)
            shape = s if rng.random() < p_shape else bool(rng.integers(0, 2))
            miscompression = VERDICTS[verdict] == "miscompression"
            rows.append({
                "item_id": item, "user_id": rater, "verdict": VERDICTS[verdict],
                "categories": ["shape"] if miscompression and shape else [],
                "modifiers": [], "confidence": int(rng.integers(1, 6)), "late": False,
            })  # fmt: skip
    # A control item and a late fourth rating: neither counts.
    rows.append({"item_id": control, "user_id": raters[0], "verdict": "unsure", "categories": [],
                 "modifiers": [], "confidence": None, "late": False})  # fmt: skip
    extra = annotators(committed_db, 1)[0]
    rows.append({"item_id": items[0], "user_id": extra, "verdict": "unsure", "categories": [],
                 "modifiers": [], "confidence": 3, "late": True})  # fmt: skip
    label_items(committed_db, study_id, rows)

    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        table = {r.question.key: r for r in results.study_agreement(session, study, replicates=300)}
        stored = len(
            list(session.scalars(select(Annotation.id).where(Annotation.study_id == study_id)))
        )
    assert stored == 3 * n_items + 2
    assert set(table) == {"verdict", "category:amplitude", "category:geometry", "category:shape",
                          "modifier:symbol", "categories", "confidence"}  # fmt: skip
    verdict = table["verdict"].report
    assert (verdict.n_units, verdict.n_raters, verdict.n_pairable_units) == (n_items, 3, n_items)
    truth_alpha = _expected_agreement(prior, p_verdict)
    for name in ("krippendorff_alpha", "fleiss_kappa"):
        estimate = getattr(verdict, name)
        low, high = estimate.ci
        assert low < truth_alpha < high, (name, estimate, truth_alpha)
    # Nobody marked AMPLITUDE: no variation, so its alpha is undefined, and says so.
    amplitude = table["category:amplitude"].report.krippendorff_alpha
    assert amplitude.value is None and "no variation" in (amplitude.note or "")
    # Random confidence: agreement near zero.
    confidence = table["confidence"].report.krippendorff_alpha
    low, high = confidence.ci  # type: ignore[misc]
    assert low < 0 < high
    assert table["confidence"].report.level.value == "ordinal"


def test_prevalence_weights_random_crops_by_their_inclusion_probability(
    committed_db: Engine,
) -> None:
    """Small crops drawn at a quarter of the rate of large ones (each stands for four times
    as many positions) and miscompressed less often: the weighted estimate finds the
    population's prevalence, where a plain mean of the sample would not; guided crops are
    reported apart."""
    from app.codec_runs.models import CodecResult

    run_id = finished_run(committed_db)
    study_id, _ = open_study_with_items(committed_db, 0)
    raters = annotators(committed_db, 3)
    rng = np.random.default_rng(8)
    plan = [(64, 0.01, 0.1, "random", 300), (128, 0.04, 0.4, "random", 300),
            (64, None, 0.9, "guided", 40)]  # fmt: skip
    with Session(committed_db) as session:
        result = session.scalars(select(CodecResult).where(CodecResult.run_id == run_id)).first()
        assert result is not None
        rows, position = [], 0
        for size, probability, rate, method, count in plan:
            for _ in range(count):
                item = StudyItem(
                    study_id=study_id, position=position, kind="crop", method=method,
                    result_id=result.id, image_id=result.image_id, x=0, y=0, size=size,
                    share_percent=1.0, inclusion_probability=probability, evidence={},
                    assets={}, active_count=3, done_count=3,
                )  # fmt: skip
                session.add(item)
                session.flush()
                position += 1
                truth = rng.random() < rate
                for rater in raters:  # raters who agree with the truth
                    rows.append({"item_id": item.id, "user_id": rater,
                                 "verdict": "miscompression" if truth else "no_miscompression",
                                 "categories": ["shape"] if truth else [], "modifiers": [],
                                 "confidence": 4, "late": False})  # fmt: skip
        session.commit()
    label_items(committed_db, study_id, rows)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        items, outcomes = results.prevalence_items(session, study)
    assert outcomes[:2] == ["miscompression", "category:amplitude"]
    estimates = {
        (r.method, r.outcome): r
        for r in prevalence.estimate(items, outcomes, replicates=500, seed=1)
    }
    population = (30_000 * 0.1 + 7_500 * 0.4) / 37_500  # = 0.16
    random_rows = estimates[("random", "miscompression")]
    low, high = random_rows.estimate.ci  # type: ignore[misc]
    assert random_rows.n_items == 600
    assert low < population < high
    assert not low < 0.25 < high  # the unweighted mean of the sample
    assert estimates[("random", "category:shape")].estimate.value == random_rows.estimate.value
    assert estimates[("random", "modifier:symbol")].estimate.value == 0.0
    guided = estimates[("guided", "miscompression")]
    assert guided.n_items == 40 and "not a prevalence" in (guided.estimate.note or "")
    plot = prevalence.render(list(estimates.values()), "miscompression", title="t", fmt="svg")
    assert plot.startswith(b"<?xml")
    assert f"<!-- {items[0].codec} -->".encode() in plot  # the codec's line, in the legend
