"""A study labelled by simulated raters of known reliability: the agreement reported for
each question recovers the simulated truth, and late ratings and controls stay out."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.studies import results
from app.studies.models import Annotation, Study, StudyItem
from tests.studies.helpers import annotators, label_items, open_study_with_items

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
