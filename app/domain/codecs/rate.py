"""Rate matching: the quality at which a ladder codec's bpp is closest to a target bpp.

The paper compares a neural reconstruction with JPEG "at the same bits per pixel". For each
reconstruction we search the JPEG quality ladder (or any ladder codec's) for the closest
measured bpp. bpp grows with quality, so the search interpolates log(bpp) inside a shrinking
bracket, on the codec's ``rate_position`` scale (along which log(bpp) is about linear), and
extrapolates on it from one end; for JPEG it needs 3.6 encodes on average instead of the 7 of
a bisection over 100 qualities. A target outside the ladder's range is reported as
unreachable, with the nearest end's figures: never silently clamped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from app.domain.codecs.base import RGB8, CodecOutput, LadderCodec


class MatchStatus(StrEnum):
    MATCHED = "matched"
    BELOW_LADDER = "unreachable_below"
    """The target is below the bpp of the lowest quality."""
    ABOVE_LADDER = "unreachable_above"
    """The target is above the bpp of the highest quality."""


@dataclass(frozen=True)
class RateMatch:
    target_bpp: float
    quality: int
    achieved_bpp: float
    status: MatchStatus
    encodes: int
    output: CodecOutput

    @property
    def reachable(self) -> bool:
        return self.status is MatchStatus.MATCHED


def match_bpp(
    codec: LadderCodec, rgb: RGB8, target_bpp: float, *, start_quality: int | None = None
) -> RateMatch:
    if not target_bpp > 0:
        raise ValueError(f"target bpp must be positive, got {target_bpp}")
    ladder = sorted(set(codec.quality_ladder()))
    positions = [codec.rate_position(quality) for quality in ladder]
    if any(b <= a for a, b in zip(positions, positions[1:], strict=False)):
        raise ValueError(f"{type(codec).__name__}.rate_position must increase with quality")
    outputs: dict[int, CodecOutput] = {}

    def bpp_at(index: int) -> float:
        quality = ladder[index]
        if quality not in outputs:
            outputs[quality] = codec.at_quality(quality).encode_decode(rgb)
        return outputs[quality].bpp()

    last = len(ladder) - 1
    start = ladder.index(start_quality) if start_quality in ladder else last // 2
    lo: tuple[int, float] | None = None  # highest index known to be at or below the target
    hi: tuple[int, float] | None = None  # lowest index known to be above the target
    index = start
    # Safeguards for a poor rate scale, which would otherwise creep one quality at a time: a
    # bracket that two guesses in a row did not halve is bisected next, and from the fourth
    # step from one end on, each at least doubles (the tests: at most 16 encodes over 100
    # qualities, with scales wrong by orders of magnitude).
    width: int | None = None
    slow, one_sided = 0, 0
    while True:
        bpp = bpp_at(index)
        if bpp == target_bpp:
            break
        if bpp < target_bpp:
            lo = (index, bpp) if lo is None or index > lo[0] else lo
        else:
            hi = (index, bpp) if hi is None or index < hi[0] else hi
        if lo is not None and hi is not None and hi[0] - lo[0] <= 1:
            break
        if lo is None and hi is not None and hi[0] == 0:
            break  # even the lowest quality is above the target
        if hi is None and lo is not None and lo[0] == last:
            break  # even the highest quality is below the target
        index = _next_index(lo, hi, target_bpp, positions)
        if lo is not None and hi is not None:
            slow = 0 if width is None or 2 * (hi[0] - lo[0]) <= width else slow + 1
            width = hi[0] - lo[0]
            if slow >= 2:
                index, slow = (lo[0] + hi[0]) // 2, 0
        else:
            one_sided += 1
            least_step = 2 ** max(0, one_sided - 3)
            if lo is not None:
                index = max(index, min(last, lo[0] + least_step))
            elif hi is not None:
                index = min(index, max(0, hi[0] - least_step))

    quality = min(outputs, key=lambda q: (abs(outputs[q].bpp() - target_bpp), q))
    achieved = outputs[quality].bpp()
    if hi is not None and hi[0] == 0 and lo is None:
        status = MatchStatus.BELOW_LADDER
    elif lo is not None and lo[0] == last and hi is None and achieved < target_bpp:
        status = MatchStatus.ABOVE_LADDER
    else:
        status = MatchStatus.MATCHED
    return RateMatch(
        target_bpp=target_bpp,
        quality=quality,
        achieved_bpp=achieved,
        status=status,
        encodes=len(outputs),
        output=outputs[quality],
    )


def _next_index(
    lo: tuple[int, float] | None,
    hi: tuple[int, float] | None,
    target: float,
    positions: list[float],
) -> int:
    """The ladder index whose rate position is nearest the target's estimate: interpolated in
    log(bpp) between the bracket ends, or extrapolated from the one end known (one unit of
    position per unit of log(bpp)), always strictly inside what is still open."""
    if lo is not None and hi is not None:
        (i0, b0), (i1, b1) = lo, hi
        fraction = math.log(target / b0) / math.log(b1 / b0)
        estimate = positions[i0] + fraction * (positions[i1] - positions[i0])
        candidates = range(i0 + 1, i1)
    elif lo is not None:  # everything seen is below the target: go up
        i0, b0 = lo
        estimate = positions[i0] + math.log(target / b0)
        candidates = range(i0 + 1, len(positions))
    else:  # everything seen is above the target: go down
        assert hi is not None
        i1, b1 = hi
        estimate = positions[i1] - math.log(b1 / target)
        candidates = range(0, i1)
    return min(candidates, key=lambda i: abs(positions[i] - estimate))
