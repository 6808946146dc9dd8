from __future__ import annotations

import math

import numpy as np
import pytest

from app.domain.codecs import registry
from app.domain.codecs.base import BitsSource, CodecOutput
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


def test_a_registered_codec_is_built_by_name_until_unregistered() -> None:
    with pytest.raises(ValueError, match="'jpeg' is registered already"):
        registry.register("jpeg", "app.domain.codecs.classical:WebpCodec")
    registry.register("jpeg-too", "app.domain.codecs.classical:JpegCodec")
    try:
        assert "jpeg-too" in registry.names()
        assert isinstance(registry.build("jpeg-too", quality=30), JpegCodec)
    finally:
        registry.unregister("jpeg-too")
    with pytest.raises(registry.UnknownCodec):
        registry.build("jpeg-too", quality=30)
    assert isinstance(registry.build("jpeg", quality=30), JpegCodec)


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


class _CurveCodec:
    """A ladder codec whose bits follow a given curve over qualities 1-100 on a 10 x 10 image,
    with a rate scale that may be good, poor or broken."""

    def __init__(self, bpp_at: dict[int, float], position: object, quality: int = 50) -> None:
        self.bpp_at, self.position, self.quality = bpp_at, position, quality

    def identity(self) -> dict[str, object]:
        return {"codec": "curve", "quality": self.quality}

    def quality_ladder(self) -> range:
        return range(1, 101)

    def at_quality(self, quality: int) -> _CurveCodec:
        return _CurveCodec(self.bpp_at, self.position, quality)

    def rate_position(self, quality: int) -> float:
        return self.position(quality)  # type: ignore[operator,no-any-return]

    def encode_decode(self, rgb: np.ndarray, *, seed: int | None = None) -> CodecOutput:
        bits = round(self.bpp_at[self.quality] * rgb.shape[0] * rgb.shape[1])
        return CodecOutput(rgb, bits=bits, bits_source=BitsSource.FILE, encode_s=0, decode_s=0)


@pytest.mark.parametrize(
    "position",
    [lambda q: 0.02 * q, lambda q: math.exp(q / 10), lambda q: math.log(q)],
    ids=["generic", "far too steep", "far too flat"],
)
@pytest.mark.parametrize("target", [0.137, 0.5, 1.234, 3.9])
def test_any_increasing_rate_scale_finds_the_closest_quality(
    position: object, target: float
) -> None:
    # bpp from 0.1 to about 5 with a bend, as real ladders have.
    bpp_at = {q: 0.1 + 0.0005 * q * q for q in range(1, 101)}
    image = np.zeros((10, 10, 3), np.uint8)
    match = match_bpp(_CurveCodec(bpp_at, position), image, target)
    closest = min(bpp_at, key=lambda q: (abs(bpp_at[q] - target), q))
    assert (match.status, match.quality) == (MatchStatus.MATCHED, closest)
    # A bisection over 100 qualities needs 7; a scale wrong by orders of magnitude costs at
    # most about twice that, never a walk one quality at a time.
    assert match.encodes <= 16


def test_a_rate_scale_that_does_not_increase_is_refused() -> None:
    codec = _CurveCodec({q: 0.1 * q for q in range(1, 101)}, lambda q: -q)
    with pytest.raises(ValueError, match="must increase with quality"):
        match_bpp(codec, np.zeros((10, 10, 3), np.uint8), 1.0)
