"""The shipped learned codec with a bitstream that is not its input's, for tests: while its
flag file exists, compress() codes the negative of the image, so decompress() returns what
forward() never would, as after an entropy-coding desync. Everything else is the production
codec, the check of every decode against forward() included. It is not in the codec
registry: tests register it and unregister it afterwards.

The shipped model is trained: a model with random weights decodes every input to the same
picture, so a wrong bitstream would go unseen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from app.domain.codecs.learned import LearnedConfig
from app.domain.codecs.shipped import MiscompMbtLow


class DesyncedConfig(LearnedConfig):
    desync_while: str = Field(min_length=1)
    """A file: while it exists, the bitstream codes the negative of the image."""


class _NegativeBitstream:
    """A model whose compress() codes 1 - x; decompress() and forward() are the model's."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def compress(self, x: Any) -> Any:
        return self._model.compress(1.0 - x)

    def decompress(self, strings: Any, shape: Any) -> Any:
        return self._model.decompress(strings, shape)

    def __call__(self, x: Any) -> Any:
        return self._model(x)


class DesyncedCodec(MiscompMbtLow):
    Config = DesyncedConfig

    def __init__(self, *, desync_while: str, **params: Any) -> None:
        super().__init__(**params)
        self._flag = Path(desync_while)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "desync_while": str(self._flag)}

    def _model(self, device: str) -> Any:
        model = super()._model(device)
        return _NegativeBitstream(model) if self._flag.exists() else model
