"""Codecs registered by name. Entries are import paths, so the web process, which only lists
and validates, never imports torch."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.domain.codecs.base import Codec, CodecUnavailable

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


def build(name: str, **params: Any) -> Codec:
    """Validate the parameters and configure the codec (loading weights where it has any)."""
    codec: Codec = _factory(name)(**params)
    return codec


def validate(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check parameters without building (no weights loaded): the web process calls this."""
    factory = _factory(name)
    config = getattr(factory, "Config", None) or getattr(factory, "config_model", None)
    if config is None:
        return params
    try:
        return dict(config(**params).model_dump(mode="json"))
    except ValidationError as exc:
        raise ValueError(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None


def availability(name: str) -> Availability:
    try:
        factory = _factory(name)
        probe = getattr(factory, "probe", None)
        detail = probe() if probe else "built in"
    except (CodecUnavailable, ImportError) as exc:
        return Availability(name, False, str(exc))
    return Availability(name, True, detail)
