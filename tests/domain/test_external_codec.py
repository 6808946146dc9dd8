"""External command-line codecs, tested with real codecs from Debian (cwebp/dwebp,
cjpeg/djpeg), which `make test` installs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from app.domain.codecs.base import BitsSource, CodecError, CodecUnavailable
from app.domain.codecs.external import ExternalCodec
from app.domain.codecs.rate import MatchStatus, match_bpp
from app.domain.metrics import psnr_rgb
from app.domain.testcard import draw_test_card

WEBP = {
    "label": "cwebp",
    "encode": "cwebp -quiet -q {quality} {input} -o {output}",
    "decode": "dwebp -quiet {input} -o {output}",
    "quality": 40,
    "compressed_suffix": ".webp",
    "ladder": list(range(0, 101, 5)),
}
JPEG = {
    "label": "cjpeg",
    "encode": "cjpeg -quality {quality} -outfile {output} {input}",
    "decode": "djpeg -pnm -outfile {output} {input}",
    "quality": 30,
    "input_format": "ppm",
    "compressed_suffix": ".jpg",
    "reconstruction_suffix": ".ppm",
}


@pytest.fixture(scope="module")
def card() -> np.ndarray:
    for program in ("cwebp", "dwebp", "cjpeg", "djpeg"):
        assert shutil.which(program), f"{program} missing: scripts/ensure-system.sh installs it"
    return np.asarray(draw_test_card().resize((320, 240)), dtype=np.uint8)


@pytest.mark.parametrize("params", [WEBP, JPEG], ids=["webp", "jpeg"])
def test_debian_codecs_round_trip(card: np.ndarray, params: dict) -> None:  # type: ignore[type-arg]
    out = ExternalCodec(**params).encode_decode(card)
    assert out.reconstruction.shape == card.shape
    assert out.bits_source is BitsSource.FILE
    assert 0.1 < out.bpp() < 6
    assert psnr_rgb(card, out.reconstruction) > 22


def test_cjpeg_matches_pillow_quality_for_quality(card: np.ndarray) -> None:
    low = ExternalCodec(**{**JPEG, "quality": 10}).encode_decode(card)
    high = ExternalCodec(**{**JPEG, "quality": 90}).encode_decode(card)
    assert low.bits < high.bits


def test_external_codecs_with_a_ladder_can_be_rate_matched(card: np.ndarray) -> None:
    codec = ExternalCodec(**WEBP)
    target = codec.at_quality(35).encode_decode(card).bpp()
    match = match_bpp(codec, card, target)
    assert match.status is MatchStatus.MATCHED
    assert match.quality == 35


def test_failures_are_clear_errors(card: np.ndarray) -> None:
    failing = {**WEBP, "encode": "sh -c 'echo codec is broken >&2; exit 3' {input} {output}"}
    with pytest.raises(CodecError, match="encode exited with status 3: codec is broken"):
        ExternalCodec(**failing).encode_decode(card)
    slow = {**WEBP, "encode": "sh -c 'sleep 5' {input} {output}", "timeout_s": 0.5}
    with pytest.raises(CodecError, match="timed out after 0.5 s"):
        ExternalCodec(**slow).encode_decode(card)
    silent = {**WEBP, "encode": "true {input} {output}"}
    with pytest.raises(CodecError, match="no compressed file"):
        ExternalCodec(**silent).encode_decode(card)


def test_seeds_and_estimated_bits_for_stochastic_research_codecs(card: np.ndarray) -> None:
    # A stand-in for CDC's wrapper: it writes the seed into the file and its bit estimate
    # into {output}.bits, as docs/codecs.md's recipe does.
    stochastic = {
        **WEBP,
        "encode": 'sh -c \'cwebp -quiet -q 50 "$0" -o "$1" && echo $(( 1000 + $2 )) > "$1.bits"\''
        " {input} {output} {seed}",
        "bits_from": "sidecar",
    }
    codec = ExternalCodec(**stochastic)
    first, second = codec.encode_decode(card, seed=1), codec.encode_decode(card, seed=7)
    assert (first.bits, second.bits) == (1001, 1007)
    assert first.bits_source is BitsSource.ESTIMATE
    without = {**stochastic, "encode": "cwebp -quiet -q 50 {input} -o {output}"}
    with pytest.raises(CodecError, match="no readable compressed.webp.bits"):
        ExternalCodec(**without).encode_decode(card)


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(CodecUnavailable, match="not found on PATH"):
        ExternalCodec(**{**WEBP, "encode": "no-such-codec {input} {output}"})
    with pytest.raises(ValueError, match="lacks {output}"):
        ExternalCodec(**{**WEBP, "decode": "dwebp {input}"})
    with pytest.raises(ValueError, match="closing quotation"):
        ExternalCodec(**{**WEBP, "encode": "cwebp '{input} {output}"})
