"""The qualification round's pure rules: a fixed draw per rater and attempt, and the pass mark."""

from __future__ import annotations

import pytest

from app.domain.qualification import Outcome, draw, needed, outcome


def test_the_draw_is_fixed_per_rater_and_attempt() -> None:
    controls = list(range(100, 120))
    first = draw(controls, 5, seed=3, user_id=7, attempt=1)
    assert first == draw(list(reversed(controls)), 5, seed=3, user_id=7, attempt=1)
    assert len(set(first)) == 5 and set(first) <= set(controls)
    others = {
        tuple(draw(controls, 5, seed=3, user_id=8, attempt=1)),
        tuple(draw(controls, 5, seed=3, user_id=7, attempt=2)),
        tuple(draw(controls, 5, seed=4, user_id=7, attempt=1)),
    }
    assert tuple(first) not in others


def test_a_study_with_fewer_controls_asks_them_all() -> None:
    assert sorted(draw([3, 1, 2], 5, seed=0, user_id=1, attempt=1)) == [1, 2, 3]
    assert draw([], 5, seed=0, user_id=1, attempt=1) == []


@pytest.mark.parametrize(
    ("questions", "answered", "correct", "mark", "expected"),
    [
        (0, 0, 0, 0.8, Outcome.NONE),
        (5, 4, 4, 0.8, Outcome.IN_PROGRESS),
        (5, 5, 4, 0.8, Outcome.PASSED),
        (5, 5, 3, 0.8, Outcome.FAILED),
        (3, 3, 2, 2 / 3, Outcome.PASSED),
        (10, 10, 7, 0.7, Outcome.PASSED),
        (2, 2, 0, 0.0, Outcome.PASSED),
    ],
)
def test_the_round_is_decided_once_every_question_is_answered(
    questions: int, answered: int, correct: int, mark: float, expected: Outcome
) -> None:
    assert outcome(questions, answered, correct, mark) == expected


def test_right_answers_needed() -> None:
    assert needed(5, 0.8) == 4
    assert needed(10, 0.7) == 7
    assert needed(3, 1.0) == 3
    assert needed(4, 0.0) == 0
    assert needed(0, 0.8) == 0
