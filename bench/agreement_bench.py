"""Agreement at study scale: 100,000 items, 500,000 ratings, every statistic.

Simulated raters (50 of them, 5 per item, each copying a hidden truth with probability 0.7)
label every item with one of the three verdicts. Times the counts table, the point estimates
(Krippendorff's alpha, Fleiss' kappa, Cohen's kappa for every pair of raters, Gwet's AC1,
percent agreement) and the bootstrap intervals, against the same computation on 1,000 items
as the baseline of the same run.

    .venv/bin/python bench/agreement_bench.py [--items 100000] [--per-item 5] [--raters 50]
        [--replicates 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from app.domain import agreement  # noqa: E402


def _ratings(items: int, per_item: int, raters: int, seed: int) -> list[agreement.Rating]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, items)
    chosen = np.argsort(rng.random((items, raters)), axis=1)[:, :per_item]
    copy = rng.random((items, per_item)) < 0.7
    values = np.where(copy, truth[:, None], rng.integers(0, 3, (items, per_item)))
    verdicts = ("miscompression", "no_miscompression", "unsure")
    return [
        agreement.Rating(int(item), int(chosen[item, k]), verdicts[values[item, k]])
        for item in range(items)
        for k in range(per_item)
    ]


def _time(items: int, args: argparse.Namespace) -> tuple[float, float, float, agreement.Report]:
    ratings = _ratings(items, args.per_item, args.raters, seed=items)
    started = time.perf_counter()
    agreement.table_of(ratings)
    table_s = time.perf_counter() - started
    started = time.perf_counter()
    report = agreement.agreement(ratings, replicates=0)
    point_s = time.perf_counter() - started
    started = time.perf_counter()
    with_ci = agreement.agreement(ratings, replicates=args.replicates)
    bootstrap_s = time.perf_counter() - started
    del report
    return table_s, point_s, bootstrap_s, with_ci


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--baseline-items", type=int, default=1_000)
    parser.add_argument("--per-item", type=int, default=5)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--replicates", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"{args.per_item} ratings per item from {args.raters} raters "
        f"({args.raters * (args.raters - 1) // 2} rater pairs), 3 verdicts, "
        f"{args.replicates} bootstrap replicates"
    )
    figures = {}
    for items in (args.baseline_items, args.items):
        table_s, point_s, bootstrap_s, report = _time(items, args)
        figures[items] = (point_s, bootstrap_s)
        alpha = report.krippendorff_alpha
        print(
            f"  {items:7d} items, {items * args.per_item:7d} ratings: table {table_s:6.2f} s, "
            f"every statistic {point_s:6.2f} s (table included), with bootstrap intervals "
            f"{bootstrap_s:6.2f} s; alpha {alpha.value:.4f} CI {alpha.ci}"
        )
    (bp, bb), (lp, lb) = figures[args.baseline_items], figures[args.items]
    print(f"ratio {args.items} / {args.baseline_items} items: statistics {lp / bp:.1f}x, "
          f"with intervals {lb / bb:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
