"""Codecs registered by name. Entries are import paths, so the web process, which only lists
and validates, never imports torch.

Codecs that read what only the operator decides (the weights folder, the declared
command-line codecs) say so with ``uses_operator_setup``: they are built with the operator's
``OperatorSetup``, and their parameters are validated with it as pydantic context."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.domain.codecs.base import Codec, CodecUnavailable
from app.domain.codecs.operator import OperatorSetup
from app.domain.codecs.parameters import Parameter, declared, with_choices
from app.domain.validation import validation_message

_FACTORIES: dict[str, str] = {
    "jpeg": "app.domain.codecs.classical:JpegCodec",
    "webp": "app.domain.codecs.classical:WebpCodec",
    "avif": "app.domain.codecs.classical:AvifCodec",
    "jpegxl": "app.domain.codecs.classical:JpegXlCodec",
    "external": "app.domain.codecs.external:ExternalCodec",
    "compressai": "app.domain.codecs.learned:CompressAICodec",
    "checkpoint": "app.domain.codecs.learned:CheckpointCodec",
    "imported": "app.domain.codecs.imported:ImportedReconstructions",
    "miscomp-mbt-low": "app.domain.codecs.shipped:MiscompMbtLow",
}
NEURAL = frozenset({"compressai", "checkpoint", "miscomp-mbt-low"})


class UnknownCodec(ValueError):
    pass


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    detail: str


def register(name: str, factory: str) -> None:
    """Add a codec by the import path of its factory (``module:attribute``); its name must
    be new. Tests register codecs of their own this way and unregister them afterwards."""
    if name in _FACTORIES:
        raise ValueError(f"codec {name!r} is registered already")
    _FACTORIES[name] = factory


def unregister(name: str) -> None:
    _FACTORIES.pop(name, None)


def names() -> list[str]:
    return sorted(_FACTORIES)


def is_neural(name: str) -> bool:
    return name in NEURAL


def _factory(name: str) -> Any:
    try:
        module, _, attr = _FACTORIES[name].partition(":")
    except KeyError:
        raise UnknownCodec(f"unknown codec {name!r}; known: {', '.join(names())}") from None
    return getattr(importlib.import_module(module), attr)


def _uses_operator_setup(factory: Any) -> bool:
    return bool(getattr(factory, "uses_operator_setup", False))


def build(name: str, /, *, operator: OperatorSetup | None = None, **params: Any) -> Codec:
    """Validate the parameters and configure the codec (loading weights where it has any).
    ``name`` is positional-only: a command-line codec's parameters hold a ``name`` too."""
    factory = _factory(name)
    if not _uses_operator_setup(factory):
        codec: Codec = factory(**params)
        return codec
    if operator is None:
        raise CodecUnavailable(f"codec {name} needs the operator's setup (weights, declarations)")
    built: Codec = factory(operator=operator, **params)
    return built


def config_of(name: str) -> Any:
    """The pydantic model a codec's parameters are validated with (None: it takes any)."""
    return getattr(_factory(name), "Config", None)


def parameters(name: str, operator: OperatorSetup | None = None) -> list[Parameter]:
    """What a run of the codec may set, for the generated run form: its Config's fields, with
    the choices only this server knows (``parameter_choices``, read with ``operator``)."""
    factory = _factory(name)
    found = declared(config_of(name))
    choices = getattr(factory, "parameter_choices", None)
    if choices is not None and operator is not None:
        found = with_choices(found, choices(operator))
    return found


def validate(
    name: str, params: dict[str, Any], operator: OperatorSetup | None = None
) -> dict[str, Any]:
    """Check parameters without building (no weights loaded): the web process calls this.
    Codecs that use the operator's setup check their paths and names against ``operator``."""
    config = config_of(name)
    if config is None:
        return params
    try:
        validated = config.model_validate(params, context={"operator": operator})
        return dict(validated.model_dump(mode="json"))
    except ValidationError as exc:
        raise ValueError(validation_message(exc.errors())) from None


def sweep_ladder(
    name: str, params: dict[str, Any], operator: OperatorSetup | None = None
) -> list[int]:
    """The qualities a sweep over a codec's ladder (``quality=ladder``) runs, read from the
    codec's class and the parameters given beside the quality, without building it."""
    ladder = getattr(_factory(name), "sweep_ladder", None)
    if ladder is None:
        raise ValueError(f"{name} has no quality ladder: list the values to sweep")
    return list(ladder(params, operator))


def availability(name: str, operator: OperatorSetup | None = None) -> Availability:
    try:
        factory = _factory(name)
        # A codec whose availability depends on what the operator declared probes with it.
        probe_with = getattr(factory, "probe_with", None)
        probe = getattr(factory, "probe", None)
        if probe_with is not None:
            detail = probe_with(operator)
        elif probe is not None:
            detail = probe()
        else:
            detail = "built in"
    except (CodecUnavailable, ImportError, ValueError) as exc:
        return Availability(name, False, str(exc))
    return Availability(name, True, detail)
