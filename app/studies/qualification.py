"""A study's qualification round: a few of its control items, answered with a verdict and
told right or wrong, that a rater must pass before any real item.

The questions are a fixed draw per rater and attempt (``app/domain/qualification.py``), shown
blind like real items: the panes by letter, in an order of their own per question. Answers
are ``QualificationAnswer`` rows, never annotations, so they count toward no item's k,
agreement or prevalence. The gate is ``require_passed``, called wherever a person is given a
real item (the web's next item and the API's). A researcher may reset a rater's round: the
answers are kept, marked reset (audited), and the rater gets a new draw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.domain import qualification as rules
from app.domain.qualification import Outcome
from app.errors import Conflict, InvalidInput, NotFound
from app.studies import assignment, queries, taxonomies
from app.studies.models import QualificationAnswer, Study, StudyItem
from app.studies.service import CONTROL_ANSWERS
from app.users.models import User

REASONS = {
    "control_identity": "the two panes were identical: the compressed pane was the original "
    "itself, so there was nothing to find",
    "control_planted": "a change was planted in the compressed pane, so it no longer shows "
    "what the original shows",
}
"""Why each kind of control has the verdict it has (``service.CONTROL_ANSWERS``), in a line."""


class QualificationPending(Conflict):
    """A real item was asked for before the rater passed the study's qualification round."""


@dataclass(frozen=True)
class Standing:
    """Where a rater stands in a study's qualification round (their current attempt)."""

    questions: int
    """Questions in the round: the study's ``qualification_items``, or fewer when it has fewer
    control items; 0 when there is no round."""
    answered: int
    correct: int
    attempt: int
    pass_mark: float

    @property
    def outcome(self) -> Outcome:
        return rules.outcome(self.questions, self.answered, self.correct, self.pass_mark)

    @property
    def needed(self) -> int:
        """Right answers that pass the round."""
        return rules.needed(self.questions, self.pass_mark)


@dataclass(frozen=True)
class Question:
    """The question a rater is asked now: a control item under a blind pane map."""

    number: int
    """From 1."""
    item: StudyItem
    pane_map: dict[str, str]


@dataclass(frozen=True)
class Feedback:
    """What a rater is told after answering a question."""

    number: int
    verdict: str
    correct: bool
    expected: str
    """The verdict a careful rater gives, by key."""
    reason: str


@dataclass(frozen=True)
class RaterQualification:
    """A row of the study page's qualification table."""

    user_id: int
    username: str
    standing: Standing
    resets: int


def _control_ids(session: Session, study: Study) -> list[int]:
    return list(
        session.scalars(
            select(StudyItem.id).where(
                StudyItem.study_id == study.id, StudyItem.kind.in_(CONTROL_ANSWERS)
            )
        )
    )


def _current_answers(session: Session, study: Study, user_id: int) -> list[QualificationAnswer]:
    return list(
        session.scalars(
            select(QualificationAnswer)
            .where(
                QualificationAnswer.study_id == study.id,
                QualificationAnswer.user_id == user_id,
                QualificationAnswer.reset_at.is_(None),
            )
            .order_by(QualificationAnswer.number)
        )
    )


def _attempt(session: Session, study: Study, user_id: int) -> int:
    """The rater's current attempt: that of their answers not reset, else one after the last
    (1 for a rater who never answered)."""
    current, last = session.execute(
        select(
            func.max(QualificationAnswer.attempt).filter(QualificationAnswer.reset_at.is_(None)),
            func.max(QualificationAnswer.attempt),
        ).where(QualificationAnswer.study_id == study.id, QualificationAnswer.user_id == user_id)
    ).one()
    if current is not None:
        return int(current)
    return int(last or 0) + 1


def _draw(session: Session, study: Study, user_id: int, attempt: int) -> list[int]:
    return rules.draw(
        _control_ids(session, study),
        study.qualification_items,
        seed=study.seed,
        user_id=user_id,
        attempt=attempt,
    )


def standing(session: Session, study: Study, user_id: int) -> Standing:
    """The rater's standing in their current attempt."""
    if study.qualification_items <= 0:
        return Standing(0, 0, 0, 1, study.qualification_pass)
    attempt = _attempt(session, study, user_id)
    answers = _current_answers(session, study, user_id)
    questions = len(_draw(session, study, user_id, attempt))
    return Standing(
        questions=questions,
        answered=len(answers),
        correct=sum(a.correct for a in answers),
        attempt=attempt,
        pass_mark=study.qualification_pass,
    )


def passed(session: Session, study: Study, user: User) -> bool:
    """Whether the rater may be given real items: no round, or the round passed."""
    return standing(session, study, user.id).outcome in (Outcome.NONE, Outcome.PASSED)


def require_passed(session: Session, study: Study, user: User) -> None:
    """The gate before any real item: QualificationPending (a Conflict, 409 on the API) in
    plain words unless the study has no qualification round or the rater passed it."""
    found = standing(session, study, user.id)
    if found.outcome in (Outcome.NONE, Outcome.PASSED):
        return
    if found.outcome == Outcome.FAILED:
        raise QualificationPending(
            f"you did not pass the qualification round of {study.name!r} ({found.correct} of "
            f"{found.questions} right, {found.needed} needed): a researcher can let you try again"
        )
    raise QualificationPending(
        f"answer the qualification round of {study.name!r} first ({found.answered} of "
        f"{found.questions} answered): /annotate/studies/{study.id}/qualification"
    )


def _pane_map(study: Study, user_id: int, attempt: int, item_id: int) -> dict[str, str]:
    """The question's blind labels: drawn as a real lease's are, fixed per question so that a
    reload shows the same letters."""
    rng = random.Random(f"qualification-panes:{study.seed}:{user_id}:{attempt}:{item_id}")
    return assignment.pane_map(study, rng)


def current_question(session: Session, study: Study, user: User) -> Question | None:
    """The question the rater answers next; None once the round is decided (or absent)."""
    found = standing(session, study, user.id)
    if found.outcome != Outcome.IN_PROGRESS:
        return None
    return question(session, study, user, found.answered + 1)


def question(session: Session, study: Study, user: User, number: int) -> Question:
    """Question ``number`` of the rater's current attempt; NotFound outside the round."""
    attempt = _attempt(session, study, user.id)
    drawn = _draw(session, study, user.id, attempt)
    if not 1 <= number <= len(drawn):
        raise NotFound(f"question {number} is not in your qualification round")
    item = session.get(StudyItem, drawn[number - 1])
    assert item is not None
    return Question(number, item, _pane_map(study, user.id, attempt, item.id))


def shows_item(session: Session, study_id: int, item_id: int, user: User) -> bool:
    """Whether the item is one of the rater's qualification questions (this attempt's, or one
    they answered before): its images are theirs to see, as a leased item's are."""
    study = session.scalar(
        select(Study).where(
            Study.id == study_id, queries.offered_to_people(), queries.open_to(user.id)
        )
    )
    if study is None or study.qualification_items <= 0:
        return False
    answered = session.scalar(
        select(QualificationAnswer.id)
        .where(
            QualificationAnswer.study_id == study.id,
            QualificationAnswer.user_id == user.id,
            QualificationAnswer.item_id == item_id,
        )
        .limit(1)
    )
    if answered is not None:
        return True
    return item_id in _draw(session, study, user.id, _attempt(session, study, user.id))


def answer(session: Session, study: Study, user: User, number: int, verdict: str) -> Feedback:
    """Record the rater's verdict on question ``number`` and say whether it was right.
    Idempotent: answering a question again (a double click, a retry) returns what the first
    answer was told. InvalidInput for a verdict the study's taxonomy does not have, or a
    question after the one asked now."""
    if study.status != "open":
        raise Conflict(f"study {study.name!r} is {study.status}, not open")
    taxonomy = taxonomies.of_study(session, study)
    verdicts = {v["key"]: v["label"] for v in taxonomy.verdicts}
    if verdict not in verdicts:
        raise InvalidInput("choose a verdict: miscompression, no miscompression or unsure")
    if session.get_bind().dialect.name == "postgresql":
        # One request per rater at a time, as for leases: a double click finds the first answer.
        session.execute(select(User.id).where(User.id == user.id).with_for_update())
    found = standing(session, study, user.id)
    if found.outcome == Outcome.NONE:
        raise NotFound(f"study {study.name!r} has no qualification round")
    if number <= found.answered:
        return feedback(session, study, user, number)
    if found.outcome != Outcome.IN_PROGRESS or number != found.answered + 1:
        raise InvalidInput(f"answer question {found.answered + 1} first")
    asked = question(session, study, user, number)
    expected = CONTROL_ANSWERS[asked.item.kind]
    session.add(
        QualificationAnswer(
            study_id=study.id,
            user_id=user.id,
            item_id=asked.item.id,
            attempt=found.attempt,
            number=number,
            verdict=verdict,
            correct=verdict == expected,
        )
    )
    session.flush()
    return feedback(session, study, user, number)


def feedback(session: Session, study: Study, user: User, number: int) -> Feedback:
    """What the rater was told on answering question ``number`` of their current attempt."""
    found = session.scalar(
        select(QualificationAnswer).where(
            QualificationAnswer.study_id == study.id,
            QualificationAnswer.user_id == user.id,
            QualificationAnswer.reset_at.is_(None),
            QualificationAnswer.number == number,
        )
    )
    if found is None:
        raise NotFound(f"you have not answered question {number} of the qualification round")
    item = session.get(StudyItem, found.item_id)
    assert item is not None
    return Feedback(
        number=number,
        verdict=found.verdict,
        correct=found.correct,
        expected=CONTROL_ANSWERS[item.kind],
        reason=REASONS[item.kind],
    )


def reset(session: Session, study: Study, user_id: int) -> int:
    """Let the rater take the round again, with a new draw: their answers are kept, marked
    reset (each change audited). The number of answers reset; NotFound when there is none."""
    answers = _current_answers(session, study, user_id)
    if not answers:
        raise NotFound("that annotator has no qualification answers to reset")
    now = utcnow()
    for row in answers:
        row.reset_at = now
    session.flush()
    return len(answers)


def raters(session: Session, study: Study) -> list[RaterQualification]:
    """Every rater who answered the study's qualification round, by name: their current
    standing and how often they were reset."""
    rows = session.execute(
        select(
            User.id,
            User.username,
            func.count(func.distinct(QualificationAnswer.attempt)).filter(
                QualificationAnswer.reset_at.is_not(None)
            ),
        )
        .join(QualificationAnswer, QualificationAnswer.user_id == User.id)
        .where(QualificationAnswer.study_id == study.id)
        .group_by(User.id, User.username)
        .order_by(User.username)
    ).all()
    return [
        RaterQualification(user_id, username, standing(session, study, user_id), int(resets))
        for user_id, username, resets in rows
    ]
