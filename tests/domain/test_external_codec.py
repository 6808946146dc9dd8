"""External command-line codecs, declared by the operator in a file and picked by name,
tested with real codecs from Debian (cwebp/dwebp, cjpeg/djpeg), which `make test` installs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.domain.codecs import registry
from app.domain.codecs.base import BitsSource, CodecError, CodecUnavailable
from app.domain.codecs.classical import JpegCodec
from app.domain.codecs.external import DeclarationError, ExternalCodec, load_declarations
from app.domain.codecs.operator import OperatorSetup
from app.domain.codecs.rate import MatchStatus, match_bpp
from app.domain.metrics import psnr_rgb
from app.domain.testcard import draw_test_card
from tests.factories import declare_external_codecs

WEBP: dict[str, Any] = {
    "label": "cwebp",
    "encode": "cwebp -quiet -q {quality} {input} -o {output}",
    "decode": "dwebp -quiet {input} -o {output}",
    "qualities": [0, 100],
    "default_quality": 40,
    "compressed_suffix": ".webp",
    "ladder": list(range(0, 101, 5)),
}
JPEG: dict[str, Any] = {
    "label": "cjpeg",
    "encode": "cjpeg -quality {quality} -outfile {output} {input}",
    "decode": "djpeg -pnm -outfile {output} {input}",
    "qualities": [1, 100],
    "default_quality": 30,
    "input_format": "ppm",
    "compressed_suffix": ".jpg",
    "reconstruction_suffix": ".ppm",
}


def declared(tmp_path: Path, **declarations: dict[str, Any]) -> OperatorSetup:
    """The operator's setup with ``declarations`` written to its codecs file."""
    file = declare_external_codecs(tmp_path / "external-codecs.toml", declarations)
    return OperatorSetup(weights_dir=tmp_path / "weights", external_codecs_file=file)


def codec(tmp_path: Path, declaration: dict[str, Any], **params: Any) -> ExternalCodec:
    """A run's codec: the one declared ``declaration``, with the run's ``params``."""
    return ExternalCodec(operator=declared(tmp_path, tested=declaration), name="tested", **params)


@pytest.fixture(scope="module")
def card() -> np.ndarray:
    for program in ("cwebp", "dwebp", "cjpeg", "djpeg"):
        assert shutil.which(program), f"{program} missing: scripts/ensure-system.sh installs it"
    return np.asarray(draw_test_card().resize((320, 240)), dtype=np.uint8)


@pytest.mark.parametrize("params", [WEBP, JPEG], ids=["webp", "jpeg"])
def test_debian_codecs_round_trip(card: np.ndarray, params: dict[str, Any], tmp_path: Path) -> None:
    out = codec(tmp_path, params).encode_decode(card)
    assert out.reconstruction.shape == card.shape
    assert out.bits_source is BitsSource.FILE
    assert 0.1 < out.bpp() < 6
    assert psnr_rgb(card, out.reconstruction) > 22


def test_cjpeg_matches_pillow_quality_for_quality(card: np.ndarray, tmp_path: Path) -> None:
    """Both are libjpeg(-turbo) with its standard tables scaled by quality, 4:2:0, Huffman
    tables not optimised: the same file, so the same bits and pixels. From quality 25 on:
    below it libjpeg's scaled tables pass 255, which Pillow clamps (baseline JPEG) and cjpeg
    does not unless given -baseline."""
    for quality in (30, 60, 90):
        external = codec(tmp_path, JPEG, quality=quality).encode_decode(card)
        pillow = JpegCodec(quality=quality).encode_decode(card)
        assert external.bits == pillow.bits, quality
        assert np.array_equal(external.reconstruction, pillow.reconstruction), quality


def test_external_codecs_with_a_ladder_can_be_rate_matched(
    card: np.ndarray, tmp_path: Path
) -> None:
    webp = codec(tmp_path, WEBP)
    target = webp.at_quality(35).encode_decode(card).bpp()
    match = match_bpp(webp, card, target)
    assert match.status is MatchStatus.MATCHED
    assert match.quality == 35


def test_failures_are_clear_errors(card: np.ndarray, tmp_path: Path) -> None:
    failing = {
        **WEBP,
        "encode": "sh -c 'echo codec is broken >&2; exit 3' {input} {output} {quality}",
    }
    with pytest.raises(CodecError, match="encode exited with status 3: codec is broken"):
        codec(tmp_path, failing).encode_decode(card)
    slow = {**WEBP, "encode": "sh -c 'sleep 5' {input} {output} {quality}", "timeout_s": 0.5}
    with pytest.raises(CodecError, match="timed out after 0.5 s"):
        codec(tmp_path, slow).encode_decode(card)
    silent = {**WEBP, "encode": "true {input} {output} {quality}"}
    with pytest.raises(CodecError, match="no compressed file"):
        codec(tmp_path, silent).encode_decode(card)


def test_seeds_and_estimated_bits_for_stochastic_research_codecs(
    card: np.ndarray, tmp_path: Path
) -> None:
    # A stand-in for CDC's wrapper: it writes the seed into the file and its bit estimate
    # into {output}.bits, as docs/codecs.md's recipe does.
    stochastic = {
        **WEBP,
        "encode": 'sh -c \'cwebp -quiet -q 50 "$0" -o "$1" && echo $(( 1000 + $2 )) > "$1.bits"\''
        " {input} {output} {seed}",
        "bits_from": "sidecar",
        "qualities": None,
        "default_quality": None,
        "ladder": [],
    }
    stochastic = {k: v for k, v in stochastic.items() if v is not None}
    cdc = codec(tmp_path, stochastic)
    first, second = cdc.encode_decode(card, seed=1), cdc.encode_decode(card, seed=7)
    assert (first.bits, second.bits) == (1001, 1007)
    assert first.bits_source is BitsSource.ESTIMATE
    without = {**stochastic, "encode": "cwebp -quiet -q 50 {input} -o {output}"}
    with pytest.raises(CodecError, match="no readable compressed.webp.bits"):
        codec(tmp_path, without).encode_decode(card)


def test_bad_declarations_are_refused_with_the_file_and_the_codec(tmp_path: Path) -> None:
    with pytest.raises(CodecUnavailable, match="not found on PATH"):
        codec(tmp_path, {**WEBP, "encode": "no-such-codec -q {quality} {input} {output}"})
    for broken, message in [
        ({**WEBP, "decode": "dwebp {input}"}, "tested.decode: command template lacks {output}"),
        ({**WEBP, "encode": "cwebp -q {quality} '{input} {output}"}, "closing quotation"),
        ({**WEBP, "qualities": [100, 0]}, "the lowest comes first"),
        ({**WEBP, "default_quality": 101}, "must lie in \\[0, 100\\]"),
        ({**WEBP, "ladder": [0, 200]}, "must lie in"),
        ({**WEBP, "program": "/bin/sh"}, "tested.program: is not one of the accepted fields"),
    ]:
        file = declare_external_codecs(tmp_path / "codecs.toml", {"tested": broken})
        with pytest.raises(DeclarationError, match=message) as error:
            load_declarations(file)
        assert str(file) in str(error.value)
    unreadable = tmp_path / "codecs.toml"
    unreadable.write_text("[tested\nencode = 1")
    with pytest.raises(DeclarationError, match=f"command-line codecs file {unreadable}"):
        load_declarations(unreadable)
    assert load_declarations(tmp_path / "absent.toml") == {}


def test_templates_are_not_format_strings(tmp_path: Path) -> None:
    """``{input.__class__.__mro__}`` was evaluated by str.format: only the four placeholder
    names exist, anything else in braces refuses the declaration."""
    for template in (
        "cwebp {input.__class__.__mro__} -o {output}",
        "cwebp {input} -o {output} {quality!r}",
        "cwebp {input} -o {output} {0}",
        "cwebp {input} -o {output} {}",
    ):
        file = declare_external_codecs(
            tmp_path / "codecs.toml", {"tested": {**WEBP, "encode": template}}
        )
        with pytest.raises(DeclarationError, match="unknown placeholder"):
            load_declarations(file)


def test_placeholders_are_replaced_as_plain_text_in_one_pass(
    card: np.ndarray, tmp_path: Path
) -> None:
    # A tiny codec that records the arguments it is given, then copies its input.
    script, recorded = tmp_path / "record_args.py", tmp_path / "args.txt"
    script.write_text(
        "import shutil, sys\n"
        f"open({str(recorded)!r}, 'a').write(repr(sys.argv[3:]) + '\\n')\n"
        "shutil.copyfile(sys.argv[1], sys.argv[2])\n"
    )
    # Doubled braces are no escape here (as they would be for str.format): the placeholder
    # inside is replaced like any other.
    recording = {
        "encode": f"{sys.executable} {script} {{input}} {{output}} q={{quality}} s={{seed}}"
        " {{quality}}{{quality}} {{seed}}",
        "decode": f"{sys.executable} {script} {{input}} {{output}}",
        "qualities": [1, 9],
        "default_quality": 5,
        "compressed_suffix": ".png",
    }
    output = codec(tmp_path, recording, quality=3).encode_decode(card, seed=8)
    assert np.array_equal(output.reconstruction, card)
    encode_args, decode_args = recorded.read_text().splitlines()
    assert encode_args == repr(["q=3", "s=8", "{3}{3}", "{8}"])
    assert decode_args == "[]"


def test_a_run_picks_a_declared_codec_and_sets_only_its_quality(tmp_path: Path) -> None:
    operator = declared(tmp_path, cwebp=WEBP, cjpeg=JPEG)
    assert registry.validate("external", {"name": "cwebp"}, operator) == {
        "name": "cwebp",
        "quality": 40,  # the declared default
    }
    assert registry.validate("external", {"name": "cjpeg", "quality": 90}, operator) == {
        "name": "cjpeg",
        "quality": 90,
    }
    refused = {
        "name: no command-line codec named 'hific' is declared on this server "
        "(declared: cjpeg, cwebp": {"name": "hific"},
        "quality: cwebp has qualities 0-100": {"name": "cwebp", "quality": 101},
        "quality: must be a whole number": {"name": "cwebp", "quality": "9"},
        "name: is required": {"quality": 9},
    }
    for message, params in refused.items():
        with pytest.raises(ValueError, match=message.replace("(", "\\(")):
            registry.validate("external", params, operator)
    # Without the server's declarations nothing is known.
    with pytest.raises(ValueError, match="only known with the server's declarations"):
        registry.validate("external", {"name": "cwebp"})


def test_a_run_cannot_give_a_program_template_or_path(tmp_path: Path) -> None:
    """The finding: a web request gave ``encode = "sh -c '...'"`` and the worker ran it."""
    operator = declared(tmp_path, cwebp=WEBP)
    pwned = tmp_path / "pwned"
    attack = {
        "label": "x",
        "encode": f"sh -c 'touch {pwned}' {{input}} {{output}}",
        "decode": f"sh -c 'touch {pwned}' {{input}} {{output}}",
    }
    for params in (attack, {"name": "cwebp", **attack}, {"name": "cwebp", "timeout_s": 1}):
        with pytest.raises(ValueError, match="a run sets only the name and quality") as error:
            registry.validate("external", params, operator)
        assert "it cannot set" in str(error.value)
        with pytest.raises(ValueError, match="a run sets only the name and quality"):
            registry.build("external", operator=operator, **params)
    assert not pwned.exists()


def test_availability_lists_what_the_operator_declared(tmp_path: Path) -> None:
    none = registry.availability("external", OperatorSetup(tmp_path, tmp_path / "absent.toml"))
    assert not none.available and "MISCOMP_EXTERNAL_CODECS" in none.detail
    operator = declared(
        tmp_path, cwebp=WEBP, missing={**WEBP, "encode": "no-such-codec {input} {output} {quality}"}
    )
    listed = registry.availability("external", operator)
    assert listed.available and "cwebp" in listed.detail and "missing" not in listed.detail
    rows = {name: (ok, detail) for name, ok, detail in ExternalCodec.declared(operator)}
    assert rows["cwebp"] == (True, "cwebp and dwebp; quality 0-100 (default 40)")
    assert rows["missing"] == (False, "'no-such-codec' not found on PATH")
