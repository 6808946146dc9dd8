"""Simulated raters: a study labelled as raters of a known reliability would label it.

Before people spend hours on a study, a researcher can see what its figures would look like:
``miscomp studies simulate STUDY`` marks the study simulated and a worker labels every item as
``raters`` simulated raters. Each item has a latent answer (is it a miscompression?), drawn
once per item from how its crop was proposed: OCR-found text changes and planted changes
usually are, distortion-guided regions half the time, random crops rarely, identity controls
almost never. Each rater gives that answer, or departs from it with probability
``error_rate``, independently per item. The agreement and prevalence pages then show what a
study of this size yields for raters that reliable: alpha and kappa, and how wide their
bootstrap intervals are.

The raters label through the same code as people (``assignment.next_item``,
``labels.submit``), so the items' counters, k, the per-rater cap and the results
behave as they will for people. They are accounts of their own (``simulated-rater-1`` ...),
created inactive: nobody can log in as one.

Rules:
- A study is labelled by people or by simulated raters, never both (``LabelSource``). A study
  that people have begun (any lease or label) is refused, and nothing changes; a simulated
  study is never offered to people (``queries.offered_to_people``).
- Simulating again tops up with the same settings: each rater labels only what is left for
  them, so a second run of a finished simulation adds nothing, and a simulation cut short (a
  worker killed; Celery redelivers) finishes where it stopped. Other settings are refused:
  the labels would mix two simulations.
- Raters label one after another, each every item left for them (up to the study's cap), as
  the demo always did; with more raters than k and no cap, the first k rate everything.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.audit.listener import set_actor
from app.domain.bounds import Seed, Share
from app.domain.roles import Role
from app.errors import Conflict
from app.jobs import enqueue_after_commit
from app.studies import assignment, labels, service, task_names
from app.studies.models import Assignment, LabelSource, Study, StudyItem
from app.studies.schemas import AnnotationSubmit
from app.users import service as user_service
from app.users.models import User

WAITING = "waiting"
"""What the task answers while the study's crops are still being proposed (it retries)."""
ACTOR = "simulated raters"
"""The audit actor of what the simulation writes."""
RATER_PREFIX = "simulated-rater-"
MAX_RATERS = 100
DEFAULT_ERROR_RATE = 0.15
"""The demo's raters: each keeps the item's latent answer with probability 0.85."""

LATENT_CHANCE = {"text": 0.9, "guided": 0.5, "random": 0.15}
"""How likely an item's latent answer is a miscompression, by proposal method (0.1 for any
other); planted controls 0.95, identity controls 0.05."""


class SimulationSettings(BaseModel):
    """How the simulated raters label; stored on the study (``Study.simulation``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    raters: Annotated[int, Field(ge=1, le=MAX_RATERS)]
    """How many simulated raters; each labels every item left for them, in turn."""
    error_rate: Share = DEFAULT_ERROR_RATE
    """How often a rater departs from the item's latent answer (0: all agree; 0.5: noise)."""
    seed: Seed = 0
    """Seeds the raters' choices; the latent answers are fixed per item."""


@dataclass(frozen=True)
class SimulationProgress:
    """How far the simulated raters are: ``finished`` once nothing is left for any of them,
    or the study will not open (failed, closed)."""

    status: str
    ratings: int
    target: int
    finished: bool


def rater_names(count: int) -> list[str]:
    return [f"{RATER_PREFIX}{number}" for number in range(1, count + 1)]


def start(session: Session, study: Study, settings: SimulationSettings) -> Study:
    """Mark the study simulated with ``settings`` and queue the simulation (after commit).
    Refused (Conflict, nothing changed) when people have begun the study, when it was
    simulated with other settings, or when it will not open. Flushes, never commits."""
    # The row lock makes a person's lease either come first (and be counted below) or wait
    # and then find the study simulated (``queries.get_study_for_people`` reads FOR SHARE).
    locked = session.scalars(
        select(Study)
        .where(Study.id == study.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if locked.status in ("failed", "closed"):
        raise Conflict(f"study {locked.name!r} is {locked.status}: there is nothing to label")
    wanted = settings.model_dump()
    if locked.label_source == LabelSource.SIMULATED:
        if locked.simulation != wanted:
            raise Conflict(
                f"study {locked.name!r} was simulated with {_described(locked.simulation)}; "
                "other settings would mix two simulations (simulate a new study instead)"
            )
    else:
        begun = session.scalar(select(func.count()).where(Assignment.study_id == locked.id))
        if begun:
            raise Conflict(
                f"study {locked.name!r} has leases or labels from people ({begun}); "
                "simulated labels would mix with theirs, so nothing was changed"
            )
        locked.label_source = LabelSource.SIMULATED
        locked.simulation = wanted
    rater_accounts(session, settings.raters)
    session.flush()
    enqueue_after_commit(session, task_names.SIMULATE_LABELS, locked.id)
    return locked


def _described(simulation: dict[str, Any] | None) -> str:
    if not simulation:
        return "unknown settings"
    return ", ".join(f"{key} {value}" for key, value in simulation.items())


def rater_accounts(session: Session, count: int) -> list[User]:
    """The simulated raters' accounts, created where missing: annotators whose random
    password nobody knows, and inactive, so that nobody can log in as one."""
    accounts = []
    for username in rater_names(count):
        user = user_service.find_user_by_username(session, username)
        if user is None:
            user = user_service.create_login_less_user(session, username, Role.ANNOTATOR)
        accounts.append(user)
    return accounts


def simulated_labels(
    item: StudyItem, rng: np.random.Generator, error_rate: float
) -> dict[str, Any]:
    """One simulated rater's labels for ``item``: the item's latent answer (fixed per item,
    drawn from ``LATENT_CHANCE``), kept with probability ``1 - error_rate`` and flipped
    otherwise; a miscompression gets the categories its kind of crop suggests."""
    item_rng = random.Random(item.id)
    chance = LATENT_CHANCE.get(item.method, 0.1)
    if item.kind == "control_planted":
        chance = 0.95
    elif item.kind == "control_identity":
        chance = 0.05
    latent = item_rng.random() < chance
    said = latent if rng.random() < 1 - error_rate else not latent
    if not said:
        return {"verdict": "no_miscompression" if rng.random() < 0.9 else "unsure"}
    categories = ["shape"] if item.method == "text" else []
    if item.kind == "control_planted" or item_rng.random() < 0.6:
        categories.append("amplitude")
    if not categories or rng.random() < 0.2:
        categories.append("geometry")
    return {
        "verdict": "miscompression",
        "categories": sorted(set(categories)),
        "modifiers": ["symbol"] if item.method == "text" else [],
        "confidence": int(rng.integers(2, 6)),
    }


def simulate(factory: sessionmaker[Session], study_id: int) -> str:
    """Label the study as its simulated raters, through the same assignment and submission
    code as people (each lease and label is committed as theirs are). ``WAITING`` while its
    crops are being proposed; otherwise what happened."""
    with factory() as session:
        set_actor(session, actor_id=None, label=ACTOR)
        study = session.get(Study, study_id)
        if study is None:
            return "missing"
        if study.label_source != LabelSource.SIMULATED or study.simulation is None:
            return "refused: the study is labelled by people"
        if study.status == "proposing":
            return WAITING
        if study.status != "open":
            return str(study.status)
        settings = SimulationSettings.model_validate(study.simulation)
        raters = rater_accounts(session, settings.raters)
        session.commit()
        rng = np.random.default_rng(settings.seed)
        for user in raters:
            while (lease := assignment.next_item(session, study, user)) is not None:
                item = session.get(StudyItem, lease.item_id)
                assert item is not None
                entry = simulated_labels(item, rng, settings.error_rate)
                data = AnnotationSubmit(client_id=f"simulated-{lease.id}", **entry)
                labels.submit(session, lease.id, user, data)
        return "done"


def progress(session: Session, study: Study) -> SimulationProgress:
    """Ratings given so far and the number the raters will have given when done (every item
    k times, or fewer raters' worth, or what their caps allow)."""
    if study.simulation is None:
        raise Conflict(f"study {study.name!r} is labelled by people, not simulated")
    settings = SimulationSettings.model_validate(study.simulation)
    if study.status in ("failed", "closed"):
        left = False
    else:
        accounts = [
            user_service.find_user_by_username(session, n) for n in rater_names(settings.raters)
        ]
        left = study.status != "open" or any(
            user is None
            or service.remaining_for(session, study, user.id) > 0
            or _holds_lease(session, study, user)
            for user in accounts
        )
    # Counted after the check above: each statement sees what was committed when it began,
    # so a rating committed between the two is in the count of a run seen as finished.
    counts = service.progress(session, study)
    raters = min(settings.raters, study.raters_per_item)
    target = counts.items * raters
    if study.per_rater_cap is not None:
        target = min(target, settings.raters * study.per_rater_cap)
    return SimulationProgress(study.status, counts.ratings_done, target, finished=not left)


def _holds_lease(session: Session, study: Study, user: User) -> bool:
    return bool(
        session.scalar(
            select(func.count()).where(
                Assignment.study_id == study.id,
                Assignment.user_id == user.id,
                Assignment.status == "leased",
            )
        )
    )
