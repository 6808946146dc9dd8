"""A study's report (``app/studies/results.py``, as JSON) as flat tables: the agreement per
question and the prevalence per codec, bpp bucket and method, each estimate with its 95 %
interval in two columns. The bundle writes them as CSV and its datasheet shows them.

Pure: the report is a plain dict, so the tables are tested on reports made by hand.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]


def _estimate(prefix: str, value: float | None, ci: Sequence[float] | None) -> Row:
    return {
        prefix: value,
        f"{prefix}_ci95_low": ci[0] if ci else None,
        f"{prefix}_ci95_high": ci[1] if ci else None,
    }


def agreement_rows(report: dict[str, Any], statistics: Sequence[tuple[str, str]]) -> list[Row]:
    """One row per question: its key, label, level, items (pairable), raters and each of
    ``statistics`` (report key, label) with its interval; notes ``;``-joined."""
    rows = []
    for question in report.get("questions", []):
        row: Row = {
            "question": question["key"],
            "label": question["label"],
            "level": question.get("level"),
            "items": question.get("n_pairable_units"),
            "raters": question.get("n_raters"),
        }
        for key, _ in statistics:
            row.update(_estimate(key, question.get(key), question.get(f"{key}_ci95")))
        row["notes"] = "; ".join(question.get("notes") or [])
        rows.append(row)
    return rows


def prevalence_rows(report: dict[str, Any]) -> list[Row]:
    """One row per (codec, bpp bucket, method, outcome), as the report orders them."""
    return [
        {
            "codec": entry["codec"],
            "bpp_bucket": entry["bpp_bucket"],
            "method": entry["method"],
            "outcome": entry["outcome"],
            "items": entry["n_items"],
            **_estimate("prevalence", entry.get("value"), entry.get("ci95")),
            "note": entry.get("note") or "",
        }
        for entry in report.get("prevalence", [])
    ]


def csv_bytes(rows: Sequence[Row], columns: Sequence[str]) -> bytes:
    """``rows`` as CSV (UTF-8, a header row; a missing value is an empty cell)."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return text.getvalue().encode()


def agreement_columns(statistics: Sequence[tuple[str, str]]) -> list[str]:
    """The columns of ``agreement_rows``, in order."""
    estimates = [c for key, _ in statistics for c in _estimate(key, None, None)]
    return ["question", "label", "level", "items", "raters", *estimates, "notes"]


PREVALENCE_COLUMNS = [
    "codec",
    "bpp_bucket",
    "method",
    "outcome",
    "items",
    *_estimate("prevalence", None, None),
    "note",
]
"""The columns of ``prevalence_rows``, in order."""


def estimate_text(value: float | None, ci: Sequence[float] | None = None) -> str:
    """``0.412 [0.301, 0.533]``; ``undefined`` for a missing value (never 0 or 1)."""
    if value is None:
        return "undefined"
    shown = f"{value:.3f}"
    return f"{shown} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else shown
