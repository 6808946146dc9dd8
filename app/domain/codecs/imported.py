"""Reconstructions made elsewhere: listed as a codec, but never encoded by a worker."""

from __future__ import annotations

from typing import Any

from app.domain.codecs.base import CodecUnavailable


class ImportedReconstructions:
    name = "imported"

    @staticmethod
    def probe() -> str:
        return "reconstructions made elsewhere, from a manifest: `miscomp runs import`"

    def __init__(self, **params: Any) -> None:
        raise CodecUnavailable(
            "imported reconstructions are not encoded here; import them again from their "
            "manifest with `miscomp runs import`"
        )
