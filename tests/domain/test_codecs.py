from __future__ import annotations

import numpy as np
import pytest

from app.domain.codecs.base import BitsSource
from app.domain.codecs.classical import AvifCodec, JpegCodec, JpegXlCodec, WebpCodec
from app.domain.codecs.rate import MatchStatus, match_bpp
from app.domain.testcard import draw_test_card


@pytest.fixture(scope="module")
def card() -> np.ndarray:
    return np.asarray(draw_test_card().resize((384, 288)), dtype=np.uint8)


@pytest.mark.parametrize("codec", [JpegCodec, WebpCodec, AvifCodec, JpegXlCodec])
def test_classical_codecs_round_trip_with_file_size_bits(codec: type, card: np.ndarray) -> None:
    out = codec(quality=40).encode_decode(card)
    assert out.reconstruction.shape == card.shape
    assert out.reconstruction.dtype == np.uint8
    assert out.bits == len(out.extra["bitstream"]) * 8
    assert out.bits_source is BitsSource.FILE
    assert 0.05 < out.bpp() < 8


def test_jpeg_flags_are_part_of_the_identity_and_change_the_bits(card: np.ndarray) -> None:
    default = JpegCodec(quality=20)
    full_chroma = JpegCodec(quality=20, subsampling="4:4:4", optimize=True)
    assert default.identity()["subsampling"] == "4:2:0"
    assert default.identity()["optimize"] is False
    assert full_chroma.identity()["subsampling"] == "4:4:4"
    assert default.encode_decode(card).bits != full_chroma.encode_decode(card).bits


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="quality"):
        JpegCodec(quality=0)
    with pytest.raises(ValueError, match="subsampling"):
        JpegCodec(subsampling="4:1:1")
    with pytest.raises(ValueError, match="Extra inputs"):
        JpegCodec(qualty=5)


@pytest.mark.parametrize("target_quality", [3, 12, 37, 61, 88])
def test_rate_match_finds_the_closest_quality_in_few_encodes(
    card: np.ndarray, target_quality: int
) -> None:
    codec = JpegCodec()
    ladder_bpp = {q: codec.at_quality(q).encode_decode(card).bpp() for q in range(1, 101)}
    target = ladder_bpp[target_quality] * 1.03
    match = match_bpp(codec, card, target)
    best = min(abs(b - target) for b in ladder_bpp.values())
    assert match.status is MatchStatus.MATCHED
    assert abs(match.achieved_bpp - target) == pytest.approx(best)
    assert match.achieved_bpp == ladder_bpp[match.quality]
    assert match.encodes <= 7


def test_rate_match_reports_unreachable_targets(card: np.ndarray) -> None:
    codec = JpegCodec()
    lowest = codec.at_quality(1).encode_decode(card).bpp()
    highest = codec.at_quality(100).encode_decode(card).bpp()
    below = match_bpp(codec, card, lowest / 3)
    assert (below.status, below.quality, below.achieved_bpp) == (
        MatchStatus.BELOW_LADDER,
        1,
        lowest,
    )
    above = match_bpp(codec, card, highest * 2)
    assert (above.status, above.quality, above.achieved_bpp) == (
        MatchStatus.ABOVE_LADDER,
        100,
        highest,
    )
    assert not above.reachable


def test_rate_match_works_for_any_ladder_codec(card: np.ndarray) -> None:
    codec = WebpCodec()
    target = codec.at_quality(30).encode_decode(card).bpp()
    match = match_bpp(codec, card, target)
    assert match.status is MatchStatus.MATCHED
    assert match.achieved_bpp == pytest.approx(target, rel=0.05)
