"""The figures of a study's report (agreement per question, prevalence against bpp), drawn
from the report's JSON: the results page serves them, and an export bundle holds them."""

from __future__ import annotations

from typing import Any

from app.domain import figures, prevalence
from app.domain.figures import FigureFormat
from app.studies.results import STATISTICS

AGREEMENT_PLOTTED = ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1")
"""The statistics the agreement figure shows (the report has more, in its table)."""


def agreement_figure(report: dict[str, Any], *, title: str, fmt: FigureFormat) -> bytes:
    """Alpha, Fleiss' kappa and AC1 per question, with their 95 % intervals."""
    questions = report.get("questions", [])
    names = dict(STATISTICS)
    return figures.intervals_chart(
        [q["label"] for q in questions],
        {
            names[key]: [
                (q[key], tuple(q[f"{key}_ci95"]) if q[f"{key}_ci95"] else None) for q in questions
            ]
            for key in AGREEMENT_PLOTTED
        },
        ylabel="agreement",
        title=title,
        fmt=fmt,
    )


def prevalence_figure(
    report: dict[str, Any], outcome: str, *, title: str, fmt: FigureFormat
) -> bytes:
    """Prevalence of ``outcome`` against bpp, one line per codec (random crops)."""
    rows = [prevalence.PrevalenceRow.from_json(r) for r in report.get("prevalence", [])]
    return prevalence.render(rows, outcome, title=title, fmt=fmt)
