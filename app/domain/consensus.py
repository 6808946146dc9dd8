"""What the counted ratings of one item say together: the rules the gallery, the
adjudication queue, the exports and the detector's retraining share.

- A miscompression when more than half of the counted ratings say so ("unsure" counts
  against); its labels are the categories and modifiers named by at least half of the
  raters who saw one.
- Not a miscompression when more than half say "no_miscompression"; with neither majority
  the raters left the item open (only adjudication settles it).
- Agreement: the share of agreeing pairs among the verdicts (two or more).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

MISCOMPRESSION = "miscompression"
NO_MISCOMPRESSION = "no_miscompression"


def verdict_agreement(verdicts: Sequence[str]) -> float:
    """The share of agreeing pairs among the verdicts (two or more)."""
    pairs = list(itertools.combinations(verdicts, 2))
    if not pairs:
        raise ValueError("agreement needs two or more verdicts")
    return sum(a == b for a, b in pairs) / len(pairs)


@dataclass(frozen=True)
class Consensus:
    raters: int
    saying: int
    """Ratings that say miscompression."""
    denying: int
    """Ratings that say no miscompression."""
    labels: tuple[str, ...]
    """Categories and modifiers named by at least half of those ``saying`` (sorted keys)."""
    agreement: float | None
    """``verdict_agreement`` of the verdicts; None for a single rating."""

    @property
    def miscompression(self) -> bool:
        return self.saying * 2 > self.raters

    @property
    def no_miscompression(self) -> bool:
        return self.denying * 2 > self.raters


def consensus(ratings: Sequence[tuple[str, Sequence[str]]]) -> Consensus:
    """The consensus of one item's counted ratings, each (verdict, labels named)."""
    if not ratings:
        raise ValueError("consensus needs at least one rating")
    saying = [labels for verdict, labels in ratings if verdict == MISCOMPRESSION]
    named = Counter(label for labels in saying for label in set(labels))
    verdicts = [verdict for verdict, _ in ratings]
    return Consensus(
        raters=len(ratings),
        saying=len(saying),
        denying=verdicts.count(NO_MISCOMPRESSION),
        labels=tuple(sorted(x for x, n in named.items() if n * 2 >= len(saying))),
        agreement=verdict_agreement(verdicts) if len(verdicts) >= 2 else None,
    )
