"""The project's own trained codecs, shipped inside the package (no download, CPU included).

Each model is a CompressAI state dict stored in float16 (half the size; see ``pack_weights``)
with a model card beside it. Loading upcasts to float32 and rebuilds the entropy tables from
the loaded weights, so the encoder and the decoder always use the same tables and decoding is
exact and deterministic. Trained with ``miscomp codecs train`` (docs/codecs.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from app.domain.codecs.base import CodecUnavailable
from app.domain.codecs.learned import (
    LearnedConfig,
    _cached_model,
    _model_from_state_dict,
    _TorchCodec,
    sha256_of,
)

MODELS_PACKAGE = "app.domain.codecs.models"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    arch: str

    @property
    def weights(self) -> Path:
        return Path(str(resources.files(MODELS_PACKAGE) / f"{self.name}.pth"))

    @property
    def card(self) -> dict[str, Any]:
        path = self.weights.with_suffix(".json")
        loaded: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        return loaded


SHIPPED = {
    "miscomp-mbt-low": ShippedModel("miscomp-mbt-low", "mbt2018-mean"),
}


ENTROPY_TABLES = ("_quantized_cdf", "_offset", "_cdf_length")


def pack_weights(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Floating-point tensors to float16 for shipping. The integer entropy tables are stored
    empty (CompressAI's loader wants the keys): loading rebuilds them from the weights."""
    packed = {}
    for key, tensor in state_dict.items():
        if key.rsplit(".", 1)[-1] in ENTROPY_TABLES:
            packed[key] = tensor.new_empty(0)
        else:
            packed[key] = tensor.half() if tensor.is_floating_point() else tensor
    return packed


class ShippedCodec(_TorchCodec):
    """One of SHIPPED, chosen by the subclass's ``name``."""

    Config = LearnedConfig

    def __init__(self, **params: Any) -> None:
        self.config = LearnedConfig(**params)
        self.model_info = SHIPPED[self.name]
        self.arch = self.model_info.arch
        self.probe()
        if not self.model_info.weights.is_file():
            raise CodecUnavailable(f"{self.model_info.weights} is missing from the package")
        self.weights_sha256 = sha256_of(self.model_info.weights)
        expected = self.model_info.card.get("weights_sha256")
        if expected and expected != self.weights_sha256:
            raise CodecUnavailable(
                f"{self.model_info.weights}: sha256 {self.weights_sha256[:12]}... differs from "
                f"its model card's {expected[:12]}..."
            )

    @classmethod
    def probe(cls) -> str:
        detail = _TorchCodec.probe()
        info = SHIPPED[cls.name]
        if not info.weights.is_file():
            raise CodecUnavailable(f"{info.weights} is missing from the package")
        validation = info.card.get("validation") or {}
        figures = (
            f", {validation['bpp']:.3f} bpp / {validation['psnr_rgb']:.2f} dB on held-out photos"
            if "bpp" in validation
            else ""
        )
        shape = f"N={info.card.get('N')}, M={info.card.get('M')}"
        return f"shipped {info.arch} ({shape}){figures}; {detail}"

    def _model(self, device: str) -> Any:
        key = ("shipped", self.name, self.weights_sha256, device)

        def build() -> Any:
            import torch

            state = torch.load(self.model_info.weights, map_location="cpu", weights_only=True)
            full = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
            return _model_from_state_dict(self.arch, full, update=True).to(device)

        return _cached_model(key, build)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "model": self.name}


class MiscompMbtLow(ShippedCodec):
    name = "miscomp-mbt-low"
