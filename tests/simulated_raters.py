"""Raters of known reliability, as the agreement tests simulate them, and the agreement they
reach over many units: the truth that estimates and their intervals are checked against."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from app.domain.agreement import Rating


def expected_agreement(prior: NDArray[np.float64], p: float) -> float:
    """Chance-corrected agreement, for many units, of raters who give the true value with
    probability p and otherwise guess uniformly among the values (the true values drawn from
    ``prior``). Krippendorff's alpha, Fleiss' kappa and every pair's Cohen's kappa all tend
    to it: the raters are alike, so each pair agrees as all do, and each rater's shares are
    the pooled ones."""
    q = len(prior)
    given = p * np.eye(q) + (1 - p) / q  # given[t, v] = P(v | truth t)
    observed = float(prior @ (given**2).sum(axis=1))
    pi = prior @ given
    expected = float((pi**2).sum())
    return (observed - expected) / (1 - expected)


def simulated_ratings(
    rng: np.random.Generator,
    prior: NDArray[np.float64],
    p: float,
    *,
    units: int,
    raters: int,
    missing: float,
) -> list[Rating]:
    """Each unit's true category (0 .. q-1) drawn from ``prior``; each rater gives it with
    probability p and otherwise a uniform guess, and leaves a unit out with probability
    ``missing``."""
    q = len(prior)
    truth = rng.choice(q, size=units, p=prior)
    copies = rng.random((units, raters)) < p
    values = np.where(copies, truth[:, None], rng.integers(0, q, (units, raters)))
    given = rng.random((units, raters)) >= missing
    return [
        Rating(int(unit), int(rater), int(values[unit, rater]))
        for unit, rater in zip(*np.nonzero(given), strict=True)
    ]
