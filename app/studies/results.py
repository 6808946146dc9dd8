"""A study's annotations as the questions its raters answered, and the agreement on each.

Questions (every one a column of the agreement table):
- ``verdict``: miscompression, no miscompression or unsure (nominal);
- ``category:<key>``: whether each category of the taxonomy applies (present/absent; an
  item judged not a miscompression has none);
- ``modifier:<key>``: the same for SYMBOL and any other modifier;
- ``categories``: the set of categories as one nominal value ("amplitude+shape", "none");
- ``confidence``: 1-5, ordinal (missing where the rater left it out).

Ratings are the k counted ratings of each study item: late ratings (kept, but beyond k) and
control items (they measure raters, not the codec) are left out.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import agreement
from app.domain.agreement import Level, Rating
from app.studies.models import Annotation, Study, StudyItem, TaxonomyVersion


@dataclass(frozen=True)
class Question:
    key: str
    label: str
    level: Level
    categories: list[Hashable] | None
    """The scale, when the data alone might not show all of it (yes/no questions)."""
    ratings: list[Rating]


def questions(session: Session, study: Study) -> list[Question]:
    taxonomy = session.get(TaxonomyVersion, study.taxonomy_version_id)
    assert taxonomy is not None
    rows = session.execute(
        select(
            Annotation.item_id,
            Annotation.user_id,
            Annotation.verdict,
            Annotation.categories,
            Annotation.modifiers,
            Annotation.confidence,
        )
        .join(StudyItem, StudyItem.id == Annotation.item_id)
        .where(
            Annotation.study_id == study.id,
            Annotation.late.is_(False),
            StudyItem.kind == "crop",
        )
        .order_by(Annotation.id)
    ).all()
    verdicts = [v["key"] for v in taxonomy.verdicts]
    result = [
        Question(
            "verdict",
            "Verdict",
            Level.NOMINAL,
            list(verdicts),
            [Rating(r.item_id, r.user_id, r.verdict) for r in rows],
        )
    ]
    for entry in taxonomy.categories:
        field = "categories" if entry["kind"] == "category" else "modifiers"
        result.append(
            Question(
                f"{'category' if field == 'categories' else 'modifier'}:{entry['key']}",
                entry["label"],
                Level.NOMINAL,
                [False, True],
                [Rating(r.item_id, r.user_id, entry["key"] in getattr(r, field)) for r in rows],
            )
        )
    result.append(
        Question(
            "categories",
            "Set of categories",
            Level.NOMINAL,
            None,
            [Rating(r.item_id, r.user_id, "+".join(sorted(r.categories)) or "none") for r in rows],
        )
    )
    result.append(
        Question(
            "confidence",
            "Confidence (1-5)",
            Level.ORDINAL,
            [1, 2, 3, 4, 5],
            [Rating(r.item_id, r.user_id, r.confidence) for r in rows],
        )
    )
    return result


@dataclass(frozen=True)
class QuestionAgreement:
    question: Question
    report: agreement.Report


def study_agreement(
    session: Session, study: Study, *, replicates: int = agreement.BOOTSTRAP_REPLICATES
) -> list[QuestionAgreement]:
    """Every statistic for every question, with bootstrap intervals seeded by the study."""
    return [
        QuestionAgreement(
            q,
            agreement.agreement(
                q.ratings, q.level, categories=q.categories, replicates=replicates, seed=study.seed
            ),
        )
        for q in questions(session, study)
    ]
