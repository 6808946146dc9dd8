"""Rate matching: the quality at which a ladder codec's bpp is closest to a target bpp.

The paper compares a neural reconstruction with JPEG "at the same bits per pixel". For each
reconstruction we search the JPEG quality ladder (or any ladder codec's) for the closest
measured bpp. bpp grows with quality, so the search interpolates log(bpp) over the ladder
inside a shrinking bracket; it usually needs 3 to 5 encodes instead of the 7 of a bisection
over 100 qualities. A target outside the ladder's range is reported as unreachable, with the
nearest end's figures: never silently clamped.
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
        index = _next_index(lo, hi, target_bpp, last)

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
    lo: tuple[int, float] | None, hi: tuple[int, float] | None, target: float, last: int
) -> int:
    """Interpolate log(bpp) between the bracket ends; extrapolate with a doubling step."""
    if lo is not None and hi is not None:
        (i0, b0), (i1, b1) = lo, hi
        fraction = (math.log(target) - math.log(b0)) / (math.log(b1) - math.log(b0))
        guess = round(i0 + fraction * (i1 - i0))
        return min(max(guess, i0 + 1), i1 - 1)
    if lo is not None:  # everything seen is below the target: go up
        i0, b0 = lo
        step = max(4, round((last - i0) * min(1.0, math.log(target / b0))))
        return min(last, i0 + step)
    assert hi is not None  # everything seen is above the target: go down
    i1, b1 = hi
    step = max(4, round(i1 * min(1.0, math.log(b1 / target))))
    return max(0, i1 - step)
