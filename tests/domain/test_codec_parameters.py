"""The parameters each codec declares, from which the run form is generated (issue 17,
item 4): kinds, bounds, choices, defaults and help come from the codec's own Config, and a
form's text goes back to the values that Config validates."""

from __future__ import annotations

import pytest

from app.domain.codecs import parameters, registry
from app.domain.codecs.classical import JpegCodec, WebpCodec
from app.domain.codecs.external import ExternalConfig
from app.domain.codecs.learned import CompressAIConfig


def _by_name(config: type) -> dict[str, parameters.Parameter]:
    return {p.name: p for p in parameters.declared(config)}


def test_a_classical_codec_declares_its_kinds_bounds_defaults_and_help() -> None:
    jpeg = _by_name(JpegCodec.Config)
    assert list(jpeg) == ["quality", "subsampling", "optimize", "progressive"]
    quality = jpeg["quality"]
    assert (quality.kind, quality.default, quality.minimum, quality.maximum) == (
        "integer", 75, 1, 100
    )  # fmt: skip
    assert quality.bounds == "1 to 100" and not quality.required
    assert "quality setting" in quality.help
    assert jpeg["subsampling"].kind == "choice"
    assert jpeg["subsampling"].choices == ("4:4:4", "4:2:2", "4:2:0")
    assert jpeg["subsampling"].default == "4:2:0"
    assert (jpeg["optimize"].kind, jpeg["optimize"].default) == ("boolean", False)
    assert _by_name(WebpCodec.Config)["method"].bounds == "0 to 6"


def test_a_learned_codec_declares_required_choices_and_inherited_fields() -> None:
    zoo = _by_name(CompressAIConfig)
    assert zoo["arch"].required and zoo["arch"].kind == "choice"
    assert "mbt2018-mean" in zoo["arch"].choices
    assert zoo["quality"].required and zoo["quality"].bounds == "1 to 8"
    assert zoo["device"].choices == ("auto", "cpu", "cuda")
    assert "GPU" in zoo["device"].help  # the docstring of a field the base class declares


def test_an_optional_parameter_and_choices_known_only_on_the_server() -> None:
    declared = parameters.declared(ExternalConfig)
    quality = {p.name: p for p in declared}["quality"]
    assert quality.optional and quality.kind == "integer" and quality.default is None
    named = {p.name: p for p in parameters.with_choices(declared, {"name": ("cjpeg", "cwebp")})}
    assert named["name"].kind == "choice" and named["name"].choices == ("cjpeg", "cwebp")


def test_every_registered_codec_declares_parameters_the_form_can_show() -> None:
    for name in registry.names():
        for parameter in parameters.declared(registry.config_of(name)):
            assert parameter.kind in ("integer", "number", "boolean", "choice", "text"), name
            assert parameter.kind != "choice" or parameter.choices, (name, parameter.name)


@pytest.mark.parametrize(
    ("fields", "values"),
    [
        ({"quality": " 40 ", "subsampling": "4:4:4", "optimize": "true"},
         {"quality": 40, "subsampling": "4:4:4", "optimize": True}),
        ({"quality": "", "subsampling": "4:2:0"}, {"subsampling": "4:2:0"}),
        ({"quality": "forty"}, {"quality": "forty"}),
        ({"progressive": "false"}, {"progressive": False}),
    ],
)  # fmt: skip
def test_form_text_becomes_the_values_the_config_validates(
    fields: dict[str, str], values: dict[str, object]
) -> None:
    assert parameters.from_form(parameters.declared(JpegCodec.Config), fields) == values


def test_a_refused_form_value_is_named_in_plain_words() -> None:
    typed = parameters.from_form(parameters.declared(JpegCodec.Config), {"quality": "forty"})
    with pytest.raises(ValueError, match="^quality: must be a whole number$"):
        registry.validate("jpeg", typed)
    high = parameters.from_form(parameters.declared(JpegCodec.Config), {"quality": "101"})
    with pytest.raises(ValueError, match="^quality: must be at most 100$"):
        registry.validate("jpeg", high)
