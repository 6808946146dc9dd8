"""The qualification round of a study, as pure rules: which control items a rater is asked,
and whether their answers pass.

A rater's round is a fixed draw from the study's control items, seeded by the study's seed,
the rater and the attempt (a reset draws anew), so that every page and every process sees the
same questions in the same order. The round is decided once every question is answered:
passed when the share answered right reaches the pass mark.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import StrEnum


class Outcome(StrEnum):
    NONE = "none"
    """The study has no qualification round (or no control items to hold one with)."""
    IN_PROGRESS = "in_progress"
    PASSED = "passed"
    FAILED = "failed"


def draw(
    control_ids: Sequence[int], wanted: int, *, seed: int, user_id: int, attempt: int
) -> list[int]:
    """The rater's questions: ``wanted`` of the control items (all of them when there are
    fewer), in the order asked. The same arguments always give the same draw."""
    pool = sorted(set(control_ids))
    rng = random.Random(f"qualification:{seed}:{user_id}:{attempt}")
    return rng.sample(pool, min(wanted, len(pool)))


def outcome(questions: int, answered: int, correct: int, pass_mark: float) -> Outcome:
    """Where a rater stands after ``answered`` of ``questions`` answers, ``correct`` right."""
    if questions <= 0:
        return Outcome.NONE
    if answered < questions:
        return Outcome.IN_PROGRESS
    # A small tolerance: 4 of 5 right must pass a mark of 0.8 whatever the float rounding.
    return Outcome.PASSED if correct / questions >= pass_mark - 1e-9 else Outcome.FAILED


def needed(questions: int, pass_mark: float) -> int:
    """How many right answers pass a round of ``questions``."""
    if questions <= 0:
        return 0
    for right in range(questions + 1):
        if right / questions >= pass_mark - 1e-9:
            return right
    return questions
