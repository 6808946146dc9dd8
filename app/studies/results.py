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

import itertools
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.domain import agreement, crops, prevalence
from app.domain.agreement import Level, Rating
from app.domain.prevalence import ItemOutcome
from app.jobs import enqueue_after_commit
from app.studies import adjudication, gallery, queries, service, task_names, taxonomies
from app.studies.methods import registry as method_registry
from app.studies.models import Study, StudyItem, StudyResult
from app.studies.queries import CountedRating
from app.studies.report_cache import current_report, labels_fingerprint
from app.users.models import User


@dataclass(frozen=True)
class Question:
    key: str
    label: str
    level: Level
    categories: list[Hashable] | None
    """The scale, when the data alone might not show all of it (yes/no questions)."""
    ratings: list[Rating]


def questions(
    session: Session, study: Study, rows: list[CountedRating] | None = None
) -> list[Question]:
    taxonomy = taxonomies.of_study(session, study)
    rows = queries.counted_ratings(session, study.id) if rows is None else rows
    verdicts = [v["key"] for v in taxonomy.verdicts]
    result = [
        Question(
            "verdict",
            "Verdict",
            Level.NOMINAL,
            list(verdicts),
            [Rating(r.item_id, r.rater_id, r.verdict) for r in rows],
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
                [Rating(r.item_id, r.rater_id, entry["key"] in getattr(r, field)) for r in rows],
            )
        )
    result.append(
        Question(
            "categories",
            "Set of categories",
            Level.NOMINAL,
            None,
            [Rating(r.item_id, r.rater_id, "+".join(sorted(r.categories)) or "none") for r in rows],
        )
    )
    result.append(
        Question(
            "confidence",
            "Confidence (1-5)",
            Level.ORDINAL,
            [1, 2, 3, 4, 5],
            [Rating(r.item_id, r.rater_id, r.confidence) for r in rows],
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


def rater_agreement(
    verdict: Question, report: agreement.Report, names: dict[Hashable, str]
) -> list[dict[str, Any]]:
    """Per rater, on the verdict: ratings given, the share of their verdicts that another
    rater of the same item shares (over every such pair), and their mean Cohen's kappa with
    the other raters."""
    by_unit: dict[Hashable, dict[Hashable, Hashable]] = defaultdict(dict)
    for rating in verdict.ratings:
        by_unit[rating.unit][rating.rater] = rating.value
    agree: dict[Hashable, list[int]] = defaultdict(lambda: [0, 0])
    given: dict[Hashable, int] = defaultdict(int)
    for ratings in by_unit.values():
        for rater, value in ratings.items():
            given[rater] += 1
            for other, other_value in ratings.items():
                if other != rater:
                    agree[rater][0] += value == other_value
                    agree[rater][1] += 1
    rows = []
    for rater in sorted(given, key=lambda r: names.get(r, str(r))):
        kappas = [
            e.value
            for pair, e in report.cohen_kappa_pairs.items()
            if rater in pair and e.value is not None
        ]
        agreeing, pairs = agree[rater]
        rows.append(
            {
                "rater": names.get(rater, str(rater)),
                "ratings": given[rater],
                "agreement_with_others": agreeing / pairs if pairs else None,
                "cohen_kappa_mean": sum(kappas) / len(kappas) if kappas else None,
            }
        )
    return rows


def category_confusion(
    session: Session, study: Study, rows: list[CountedRating] | None = None
) -> dict[str, Any]:
    """How raters of the same item name its categories: for every pair of ratings of an
    item by two raters, a weight of one spread over their categories' combinations ("none"
    for a rating without any), counted both ways, so the matrix is symmetric."""
    taxonomy = taxonomies.of_study(session, study)
    labels = [c["key"] for c in taxonomy.categories if c["kind"] == "category"] + ["none"]
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0.0] * len(labels) for _ in labels]
    by_item: dict[int, list[list[str]]] = defaultdict(list)
    for row in queries.counted_ratings(session, study.id) if rows is None else rows:
        by_item[row.item_id].append([c for c in row.categories if c in index] or ["none"])
    for ratings in by_item.values():
        for first, second in itertools.permutations(ratings, 2):
            weight = 1.0 / (len(first) * len(second))
            for a in first:
                for b in second:
                    counts[index[a]][index[b]] += weight
    return {"labels": labels, "counts": [[round(v, 3) for v in row] for row in counts]}


def prevalence_items(
    session: Session, study: Study, rows: list[CountedRating] | None = None
) -> tuple[list[ItemOutcome], list[str]]:
    """Every rated crop item with its codec, bpp bucket, sampling method and the share of
    its counted ratings per outcome; and the outcomes (a miscompression at all, then each
    category and modifier of the taxonomy)."""
    from app.codec_runs.models import CodecResult, CodecRun
    from app.domain.rd import curve_label

    taxonomy = taxonomies.of_study(session, study)
    outcomes = ["miscompression"] + [
        f"{'category' if c['kind'] == 'category' else 'modifier'}:{c['key']}"
        for c in taxonomy.categories
    ]
    ratings: dict[int, list[CountedRating]] = defaultdict(list)
    for row in queries.counted_ratings(session, study.id) if rows is None else rows:
        ratings[row.item_id].append(row)
    rated_items = session.execute(
        select(StudyItem, CodecResult.bpp, CodecRun.codec, CodecRun.params)
        .join(CodecResult, CodecResult.id == StudyItem.result_id)
        .join(CodecRun, CodecRun.id == CodecResult.run_id)
        .where(StudyItem.study_id == study.id, StudyItem.kind == "crop")
    ).all()
    items = []
    for item, bpp, codec, params in rated_items:
        given = ratings.get(item.id)
        if not given:
            continue
        shares: dict[str, float] = defaultdict(float)
        for r in given:
            if r.verdict != "miscompression":
                continue
            shares["miscompression"] += 1
            for key in r.categories:
                shares[f"category:{key}"] += 1
            for key in r.modifiers:
                shares[f"modifier:{key}"] += 1
        items.append(
            ItemOutcome(
                codec=curve_label(codec, params),
                bpp_bucket=crops.log_bpp_bucket(bpp or 0.0),
                method=(
                    prevalence.RANDOM
                    if method_registry.is_sample(item.method)
                    else prevalence.GUIDED
                ),
                inclusion_probability=item.inclusion_probability,
                shares={k: v / len(given) for k, v in shares.items()},
            )
        )
    return items, outcomes


def region_report(
    session: Session, study: Study, rows: list[CountedRating] | None = None
) -> dict[str, Any]:
    """How far raters' boxes on the same items coincide (boxes matched by IoU across
    raters, whichever pane they were drawn on: panes share coordinates)."""
    items: dict[Hashable, dict[Hashable, list[agreement.Rectangle]]] = defaultdict(dict)
    for row in queries.counted_ratings(session, study.id) if rows is None else rows:
        items[row.item_id][row.rater_id] = [(b["x"], b["y"], b["w"], b["h"]) for b in row.boxes]
    report = agreement.region_agreement(dict(items), threshold=study.region_iou)

    def value(estimate: agreement.Estimate) -> dict[str, Any]:
        return {"value": estimate.value, "note": estimate.note}

    return {
        "threshold": report.threshold,
        "n_boxes": report.n_boxes,
        "n_regions": report.n_regions,
        "matched_share": value(report.matched_share),
        "mean_iou": value(report.mean_iou),
        "alpha": value(report.alpha),
    }


def prevalence_groups(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's prevalence rows as a table: one row per (codec, bpp bucket, method), a
    cell per outcome."""
    groups: dict[tuple[str, float, str], dict[str, Any]] = {}
    for row in report.get("prevalence", []):
        key = (row["codec"], row["bpp_bucket"], row["method"])
        group = groups.setdefault(
            key,
            {"codec": key[0], "bpp_bucket": key[1], "method": key[2], "n_items": row["n_items"],
             "cells": {}},
        )  # fmt: skip
        group["cells"][row["outcome"]] = row
    return [groups[k] for k in sorted(groups)]


# ---- the cached report, computed on a worker -----------------------------------------------

STATISTICS = (
    ("krippendorff_alpha", "Krippendorff's alpha"),
    ("fleiss_kappa", "Fleiss' kappa"),
    ("cohen_kappa_mean", "Cohen's kappa (mean of pairs)"),
    ("gwet_ac1", "Gwet's AC1"),
    ("percent_agreement", "Percent agreement"),
)
"""The columns of the agreement table, as the report's keys name them."""


def request_report(session: Session, study: Study) -> StudyResult:
    """The study's report row; a computation is queued (after the commit) when there is no
    report of the current labels and none is under way. Flushes, never commits."""
    current = labels_fingerprint(session, study)
    row = session.scalar(select(StudyResult).where(StudyResult.study_id == study.id))
    if row is None:
        row = StudyResult(
            study_id=study.id, status="queued", wanted=current, done=0, total=0, report={}
        )
        session.add(row)
    elif row.status in ("queued", "running") or (
        row.status == "done" and row.fingerprint == current
    ):
        return row
    else:
        row.status, row.wanted, row.done, row.error = "queued", current, 0, None
        row.requested_at = utcnow()
    session.flush()
    enqueue_after_commit(session, task_names.RESULTS, study.id)
    return row


def build_report(
    session: Session,
    study: Study,
    rows: list[CountedRating],
    asked: list[Question],
    *,
    replicates: int = agreement.BOOTSTRAP_REPLICATES,
    question_done: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The report of the counted ratings ``rows`` (``asked``: their questions): every
    question's agreement with bootstrap intervals, prevalence, raters, confusion, regions.
    ``question_done`` is called after each question (a worker commits its progress there).
    A ValueError says why the statistics could not be computed."""
    report: list[dict[str, Any]] = []
    reports: dict[str, agreement.Report] = {}
    for question in asked:
        outcome = agreement.agreement(
            question.ratings,
            question.level,
            categories=question.categories,
            replicates=replicates,
            seed=study.seed,
        )
        reports[question.key] = outcome
        report.append({"key": question.key, "label": question.label, **outcome.as_json()})
        if question_done is not None:
            question_done()
    items, outcomes = prevalence_items(session, study, rows)
    estimates = prevalence.estimate(items, outcomes, replicates=replicates, seed=study.seed)
    verdict = next(q for q in asked if q.key == "verdict")
    rater_ids = {r.rater for r in verdict.ratings}
    names: dict[Hashable, str] = dict(
        session.execute(select(User.id, User.username).where(User.id.in_(rater_ids))).all()
    )
    controls = {r["username"]: r for r in service.rater_progress(session, study)}
    raters = rater_agreement(verdict, reports["verdict"], names)
    for entry in raters:
        known = controls.get(entry["rater"], {})
        entry["controls"] = known.get("controls", 0)
        entry["controls_correct"] = known.get("controls_correct", 0)
    return {
        "questions": report,
        "outcomes": outcomes,
        "prevalence": [e.as_json() for e in estimates],
        "raters": raters,
        "confusion": category_confusion(session, study, rows),
        "regions": region_report(session, study, rows),
        # For the adjudication queue and the gallery, so that their pages need not read
        # every annotation while the labels stay as they are; each reads back its own.
        adjudication.REPORT_KEY: adjudication.report_entry(session, study, rows),
        gallery.REPORT_KEY: gallery.report_entry(session, study, rows),
    }


def report_of_current_labels(
    session: Session, study: Study, *, replicates: int = agreement.BOOTSTRAP_REPLICATES
) -> dict[str, Any]:
    """The report of the study's labels as they are now: the cached one when it is of these
    labels, computed here otherwise (and not stored: the caller may be a reader, the CLI's
    session that commits nothing). A ValueError says why it could not be computed."""
    cached = current_report(session, study)
    if cached is not None:
        return cached
    rows = queries.counted_ratings(session, study.id)
    return build_report(
        session, study, rows, questions(session, study, rows), replicates=replicates
    )


def compute_report(
    factory: sessionmaker[Session],
    study_id: int,
    *,
    replicates: int = agreement.BOOTSTRAP_REPLICATES,
) -> str:
    """Compute and store the report (the worker's step), committing progress after each
    question. Labels that arrive meanwhile are picked up by the next request."""
    with factory() as session:
        session.info["actor_label"] = "worker"
        study = session.get(Study, study_id)
        row = session.scalar(select(StudyResult).where(StudyResult.study_id == study_id))
        if study is None or row is None:
            return "missing"
        if row.status == "done" and row.fingerprint == labels_fingerprint(session, study):
            return "done"  # a duplicated task
        fingerprint = labels_fingerprint(session, study)
        rows = queries.counted_ratings(session, study.id)
        asked = questions(session, study, rows)
        row.status, row.done, row.total, row.wanted = "running", 0, len(asked), fingerprint
        session.commit()

        def question_done() -> None:
            assert row is not None
            row.done += 1
            session.commit()

        try:
            report = build_report(
                session, study, rows, asked, replicates=replicates, question_done=question_done
            )
        except ValueError as exc:
            row.status, row.error = "failed", str(exc)
            session.commit()
            return row.status
        row.report = report
        row.fingerprint, row.status = fingerprint, "done"
        row.computed_at = utcnow()
        session.commit()
        return row.status
