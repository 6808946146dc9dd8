"""Studies as the web, the API and the CLI see them: create, list, follow, taxonomies."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Integer, ScalarSelect, Select, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import AliasedClass

from app.codec_runs.models import RUN_ACTIVE_STATUSES, CodecResult, CodecRun
from app.datasets.models import Image
from app.domain import crops, taxonomy
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import enqueue_after_commit
from app.studies import task_names
from app.studies.models import Annotation, Assignment, Study, StudyItem, TaxonomyVersion
from app.studies.schemas import CategoryCreate, StudyCreate, StudyProgress
from app.users.models import User


def default_taxonomy(session: Session) -> TaxonomyVersion:
    """The latest version of the default taxonomy, created (version 1, the paper's) if none."""
    latest = session.scalar(
        select(TaxonomyVersion)
        .where(TaxonomyVersion.name == taxonomy.DEFAULT_NAME)
        .order_by(TaxonomyVersion.version.desc())
        .limit(1)
    )
    if latest is not None:
        return latest
    first = TaxonomyVersion(
        name=taxonomy.DEFAULT_NAME,
        version=1,
        categories=taxonomy.DEFAULT_CATEGORIES,
        verdicts=taxonomy.VERDICTS,
    )
    session.add(first)
    session.flush()
    return first


def add_category(session: Session, data: CategoryCreate, *, actor: User | None) -> TaxonomyVersion:
    """A new version of the default taxonomy with one more category; studies already made
    keep the version they were made with."""
    current = default_taxonomy(session)
    try:
        categories = taxonomy.with_category(
            current.categories,
            key=data.key,
            label=data.label,
            description=data.description,
            shortcut=data.shortcut,
            kind=data.kind,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return new_version(session, current, categories, actor=actor)


def new_version(
    session: Session,
    current: TaxonomyVersion,
    categories: list[dict[str, Any]],
    *,
    actor: User | None,
) -> TaxonomyVersion:
    """The version after ``current`` with these (validated) categories and its verdicts;
    Conflict if another one was saved after ``current`` meanwhile."""
    version = TaxonomyVersion(
        name=current.name,
        version=current.version + 1,
        categories=categories,
        verdicts=current.verdicts,
        created_by_id=actor.id if actor else None,
    )
    session.add(version)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("the taxonomy changed meanwhile; reload and try again") from None
    return version


def create_study(session: Session, data: StudyCreate, *, actor: User | None) -> Study:
    if session.scalar(select(Study.id).where(Study.name == data.name)) is not None:
        raise Conflict(f"a study named {data.name!r} exists already")
    runs = list(session.scalars(select(CodecRun).where(CodecRun.id.in_(data.run_ids))))
    missing = sorted(set(data.run_ids) - {r.id for r in runs})
    if missing:
        raise NotFound(f"codec runs not found: {missing}")
    done = session.scalar(
        select(func.count()).where(
            CodecResult.run_id.in_(data.run_ids), CodecResult.status == "done"
        )
    )
    if not done and not any(r.status in RUN_ACTIVE_STATUSES for r in runs):
        raise InvalidInput("the runs have no finished results")
    if "jpeg" in data.panes and not all(r.match_jpeg for r in runs):
        raise InvalidInput("the jpeg pane needs runs with a bpp-matched JPEG")
    if data.versus_run_id is not None:
        _check_versus_run(session, data.versus_run_id, runs)
    if not any(r.status in RUN_ACTIVE_STATUSES for r in runs):
        _check_enough_crops(session, data, done or 0)
    if data.taxonomy_version_id is None:
        taxonomy_version = default_taxonomy(session)
    else:
        found = session.get(TaxonomyVersion, data.taxonomy_version_id)
        if found is None:
            raise NotFound(f"taxonomy version {data.taxonomy_version_id} not found")
        taxonomy_version = found
    study = Study(
        name=data.name,
        instructions=data.instructions,
        status="proposing",
        run_ids=sorted(set(data.run_ids)),
        versus_run_id=data.versus_run_id,
        crop_sizes=data.crop_sizes,
        methods=list(data.methods),
        method_params=dict(data.method_params),
        items_target=data.items,
        quotas=dict(data.quotas),
        planted_controls=data.planted_controls,
        raters_per_item=data.raters_per_item,
        per_rater_cap=data.per_rater_cap,
        lease_s=data.lease_s,
        blind=data.blind,
        panes=list(data.panes),
        seed=data.seed,
        region_iou=data.region_iou,
        qualification_items=data.qualification_items,
        qualification_pass=data.qualification_pass,
        taxonomy_version_id=taxonomy_version.id,
        created_by_id=actor.id if actor else None,
        proposal_report={},
    )
    session.add(study)
    session.flush()
    enqueue_after_commit(session, task_names.PROPOSE, study.id)
    return study


def crop_positions(
    session: Session, run_ids: list[int], sizes: list[int]
) -> dict[int, dict[int, int]]:
    """Per run, per crop size: how many distinct crops its finished results offer (every
    position of every image, as random crops and controls are drawn), from the images' sizes
    alone. Guided methods find fewer."""
    positions = {run_id: dict.fromkeys(sizes, 0) for run_id in run_ids}
    rows = session.execute(
        select(CodecResult.run_id, Image.width, Image.height, func.count())
        .join(Image, Image.id == CodecResult.image_id)
        .where(CodecResult.run_id.in_(run_ids), CodecResult.status == "done")
        .group_by(CodecResult.run_id, Image.width, Image.height)
    ).all()
    for run_id, width, height, count in rows:
        for size in sizes:
            positions[run_id][size] += count * crops.random_positions(width, height, size)
    return positions


def _check_enough_crops(session: Session, data: StudyCreate, done: int) -> None:
    """The items are split evenly over the crop sizes (``crops.per_size``): refuse a study
    that asks a size for more distinct crops than the finished results of its (ended) runs
    hold."""
    per_size = max(crops.per_size(data.crop_sizes, data.items).values())
    positions = crop_positions(session, data.run_ids, data.crop_sizes)
    for size in data.crop_sizes:
        offered = sum(by_size[size] for by_size in positions.values())
        if per_size > offered:
            raise InvalidInput(
                f"{data.items} items are more than the chosen runs can give: each crop size "
                f"gets about {per_size} of them, but the runs' {done} finished results hold "
                f"only {offered} distinct crops of {size} pixels. Ask for fewer items, or "
                "choose smaller crop sizes or more runs."
            )


def _check_versus_run(session: Session, versus_run_id: int, runs: list[CodecRun]) -> None:
    """The versus run must exist and code the same images as the study's runs (the same
    dataset), or there would be nothing to set against them."""
    versus = session.get(CodecRun, versus_run_id)
    if versus is None:
        raise NotFound(f"versus run {versus_run_id} not found")
    if any(run.dataset_id != versus.dataset_id for run in runs):
        raise InvalidInput("the versus run must code the same dataset as the study's runs")
    if versus.status not in RUN_ACTIVE_STATUSES and not session.scalar(
        select(func.count()).where(CodecResult.run_id == versus.id, CodecResult.status == "done")
    ):
        raise InvalidInput(f"versus run {versus.id} has no finished results")


def get_study(session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound(f"study {study_id} not found")
    return study


def find_study_by_name(session: Session, name: str) -> Study | None:
    return session.scalar(select(Study).where(Study.name == name))


def list_studies(session: Session) -> list[Study]:
    return list(session.scalars(select(Study).order_by(Study.id.desc())))


def progress(session: Session, study: Study) -> StudyProgress:
    late = (
        select(func.count())
        .where(Annotation.study_id == study.id, Annotation.late.is_(True))
        .scalar_subquery()
    )
    items, done, active, complete, late_count = session.execute(
        select(
            func.count(StudyItem.id),
            func.coalesce(func.sum(StudyItem.done_count), 0),
            func.coalesce(func.sum(StudyItem.active_count), 0),
            func.count(StudyItem.id).filter(StudyItem.done_count >= study.raters_per_item),
            late,
        ).where(StudyItem.study_id == study.id)
    ).one()
    needed = items * study.raters_per_item
    return StudyProgress(
        items=items,
        ratings_needed=needed,
        ratings_done=int(done),
        leased=int(active) - int(done),
        remaining=needed - int(active),
        complete_items=complete,
        late=late_count,
    )


CONTROL_ANSWERS = {"control_identity": "no_miscompression", "control_planted": "miscompression"}
"""The verdict a careful rater gives on each kind of control item."""


def rater_progress(session: Session, study: Study) -> list[dict[str, object]]:
    """Per annotator: done, skipped, leased now, and their verdicts on control items (the
    original shown as the reconstruction, or a planted change): reliability at a glance."""
    rows = session.execute(
        select(User.username, Assignment.status, func.count())
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.study_id == study.id)
        .group_by(User.username, Assignment.status)
        .order_by(User.username)
    ).all()
    raters: dict[str, dict[str, object]] = {}
    for username, status, count in rows:
        entry = raters.setdefault(
            username, {"username": username, "done": 0, "skipped": 0, "leased": 0, "expired": 0}
        )
        entry[status] = count
    controls = session.execute(
        select(User.username, StudyItem.kind, Annotation.verdict, func.count())
        .join(Annotation, Annotation.user_id == User.id)
        .join(StudyItem, StudyItem.id == Annotation.item_id)
        .where(Annotation.study_id == study.id, StudyItem.kind.in_(CONTROL_ANSWERS))
        .group_by(User.username, StudyItem.kind, Annotation.verdict)
    ).all()
    for username, kind, verdict, count in controls:
        entry = raters[username]
        entry["controls"] = int(str(entry.get("controls", 0))) + count
        if verdict == CONTROL_ANSWERS[kind]:
            entry["controls_correct"] = int(str(entry.get("controls_correct", 0))) + count
    for entry in raters.values():
        entry.setdefault("controls", 0)
        entry.setdefault("controls_correct", 0)
    ids = dict(
        session.execute(select(User.username, User.id).where(User.username.in_(raters))).all()
    )
    for username, entry in raters.items():
        entry["remaining"] = remaining_for(session, study, ids[username])
    return list(raters.values())


NUMBERED = ("leased", "done", "skipped")
"""The statuses of a rater's assignments that take a number in their sequence through a study
("item 5 of 235"): every item they were shown, but for leases that lapsed unfinished."""


@dataclass(frozen=True)
class ItemProgress:
    """Where a rater stands in a study, seen from one of their items."""

    number: int
    """This item's place in the rater's own sequence through the study, from 1."""
    items: int
    """Items in the study."""
    left: int
    """Items the rater may still be given after this one (those leased ahead included); a
    lower bound when ``left_at_least``."""
    cap: int | None
    """The study's per-rater cap, when it has one."""
    left_at_least: bool = False
    """``left`` is a lower bound (the open items were counted up to ``LEFT_COUNTED_UP_TO``):
    the workspace says "1000+ left"."""


LEFT_COUNTED_UP_TO = 1000
"""The workspace counts the items left to a rater up to this many: counting every open item
of a large study would scan the whole study once per item shown (100 ms of the database's
time at 100,000 items, on the way to every next item)."""

_ITEM_COUNTS: dict[tuple[int, datetime], int] = {}
"""(study id, created at) -> its items, for open and closed studies."""


def item_count(session: Session, study: Study) -> int:
    """The study's items. They are written in the transaction that opens the study (the
    proposal, a bundle's import) and never change after, so an open or closed study's count
    is read once per process: counting 100,000 items on every item shown costs 30 ms."""
    key = (study.id, study.created_at)
    cached = _ITEM_COUNTS.get(key)
    if cached is not None:
        return cached
    count = session.scalar(select(func.count()).where(StudyItem.study_id == study.id)) or 0
    if study.status in ("open", "closed"):
        _ITEM_COUNTS[key] = count
    return count


Param = int | BindParameter[int]
"""A value, or a bound parameter of a statement built once and reused (``_progress``)."""


def _open_items(
    study_id: Param, raters_per_item: Param, user_id: Param, *, up_to: int | None = None
) -> ScalarSelect[int]:
    """Items the rater has not been shown that still have a free place (``up_to``: counted
    no further than that)."""
    seen = exists().where(Assignment.item_id == StudyItem.id, Assignment.user_id == user_id)
    open_items = select(StudyItem.id).where(
        StudyItem.study_id == study_id,
        StudyItem.active_count < raters_per_item,
        ~seen,
    )
    if up_to is not None:
        open_items = open_items.limit(up_to)
    return select(func.count()).select_from(open_items.subquery()).scalar_subquery()


def _cap_used(study_id: Param, user_id: Param) -> ScalarSelect[int]:
    """What counts against the per-rater cap: items leased now or done."""
    return (
        select(func.count())
        .where(
            Assignment.study_id == study_id,
            Assignment.user_id == user_id,
            Assignment.status.in_(("leased", "done")),
        )
        .scalar_subquery()
    )


def _within_cap(study: Study, open_items: int, used: int) -> int:
    if study.per_rater_cap is None:
        return open_items
    return max(0, min(open_items, study.per_rater_cap - used))


def item_number(
    outer: type[Assignment] | AliasedClass[Assignment] = Assignment,
) -> ScalarSelect[int]:
    """An assignment's number in its rater's sequence through its study, correlated with
    ``outer`` (a statement over ``Assignment``, or an alias of it): one more than the rater's
    earlier numbered ones, whatever the assignment's own status."""
    earlier = aliased(Assignment)
    return (
        select(func.count() + 1)
        .where(
            earlier.user_id == outer.user_id,
            earlier.study_id == outer.study_id,
            earlier.id < outer.id,
            earlier.status.in_(NUMBERED),
        )
        .correlate(outer)
        .scalar_subquery()
    )


def remaining_for(session: Session, study: Study, user_id: int) -> int:
    """Items this rater could still be given: not seen by them, with a free place, within
    their cap."""
    open_items, used = session.execute(
        select(_open_items(study.id, study.raters_per_item, user_id), _cap_used(study.id, user_id))
    ).one()
    return _within_cap(study, int(open_items), int(used))


@functools.cache
def _progress() -> Select[int, int, int, int]:
    """``item_progress``'s statement, built once: the workspace runs it for every item shown,
    and building it (aliases, subqueries, its cache key) cost more than running it."""
    study_id, user_id = bindparam("study_id", type_=Integer), bindparam("user_id", type_=Integer)
    other_leases = (
        select(func.count())
        .where(
            Assignment.study_id == study_id,
            Assignment.user_id == user_id,
            Assignment.status == "leased",
            Assignment.id != bindparam("lease_id", type_=Integer),
        )
        .scalar_subquery()
    )
    # The lease under an alias, so that the other counts over ``assignment`` stay uncorrelated.
    current = aliased(Assignment)
    k = bindparam("k", type_=Integer)
    return select(
        item_number(current),
        _open_items(study_id, k, user_id, up_to=LEFT_COUNTED_UP_TO),
        _cap_used(study_id, user_id),
        other_leases,
    ).where(current.id == bindparam("lease_id", type_=Integer))


def item_progress(session: Session, study: Study, lease: Assignment) -> ItemProgress:
    """Where the rater of ``lease`` stands ("item 5 of 235, 228 left"), in one statement: its
    number and what the rater may still be given besides this item (their other live leases,
    plus what ``remaining_for`` counts, up to ``LEFT_COUNTED_UP_TO``); the study's items come
    from ``item_count``."""
    number, open_items, used, others = session.execute(
        _progress(),
        {
            "lease_id": lease.id,
            "study_id": study.id,
            "user_id": lease.user_id,
            "k": study.raters_per_item,
        },
    ).one()
    within_cap = _within_cap(study, int(open_items), int(used))
    # Not bounded by the cap: the count stopped where it was told to ("1000+ left").
    stopped = within_cap == open_items == LEFT_COUNTED_UP_TO
    return ItemProgress(
        number=int(number),
        items=item_count(session, study),
        left=LEFT_COUNTED_UP_TO if stopped else within_cap + int(others),
        cap=study.per_rater_cap,
        left_at_least=stopped,
    )
