"""Classical codecs run in process through Pillow: JPEG, WebP, AVIF, JPEG XL.

Encoder flags that change the bits (JPEG chroma subsampling, optimize, progressive) are part
of the codec's identity and stored with every result: at low quality they change bpp by up
to 2x.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np
from PIL import Image, features
from pydantic import BaseModel, ConfigDict, Field

from app.domain.codecs.base import (
    GENERIC_RATE_SLOPE,
    RGB8,
    BitsSource,
    CodecError,
    CodecOutput,
    CodecUnavailable,
    timed,
)
from app.domain.codecs.operator import OperatorSetup

_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


RD_LADDER = (5, 10, 20, 30, 50, 70, 90)


class PillowCodec:
    """Encode to the format's bytes with Pillow, decode them back; bits = file size."""

    name: ClassVar[str]
    pil_format: ClassVar[str]
    ladder: ClassVar[Sequence[int]] = range(1, 101)

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
        quality: int = Field(default=75, ge=0, le=100)
        """The encoder's quality setting: higher keeps more detail and costs more bits."""

    def __init__(self, **params: Any) -> None:
        self.config = self.Config(**params)
        self._check_available()

    @classmethod
    def _check_available(cls) -> None:
        pass

    @classmethod
    def probe(cls) -> str:
        cls._check_available()
        from importlib.metadata import version

        return f"in process, Pillow {version('pillow')}"

    def identity(self) -> dict[str, Any]:
        return {"codec": self.name, **self.config.model_dump()}

    def save_options(self) -> dict[str, Any]:
        return {"quality": self.config.quality}

    def quality_ladder(self) -> Sequence[int]:
        return self.ladder

    @classmethod
    def sweep_ladder(cls, params: dict[str, Any], operator: OperatorSetup | None) -> list[int]:
        """The qualities a sweep over the ladder runs: from barely recognisable to nearly
        transparent, as the RD figures of codec papers span, in few runs."""
        return list(RD_LADDER)

    def at_quality(self, quality: int) -> Self:
        return type(self)(**{**self.config.model_dump(), "quality": quality})

    def rate_position(self, quality: int) -> float:
        return quality * GENERIC_RATE_SLOPE

    def encode(self, rgb: RGB8) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(rgb, mode="RGB").save(buffer, format=self.pil_format, **self.save_options())
        return buffer.getvalue()

    def encode_decode(self, rgb: RGB8, *, seed: int | None = None) -> CodecOutput:
        data, encode_s = timed(lambda: self.encode(rgb))

        def decode() -> RGB8:
            with Image.open(io.BytesIO(data)) as decoded:
                return np.asarray(decoded.convert("RGB"), dtype=np.uint8)

        try:
            recon, decode_s = timed(decode)
        except OSError as exc:
            raise CodecError(f"{self.name} could not decode its own output: {exc}") from exc
        return CodecOutput(
            recon,
            bits=len(data) * 8,
            bits_source=BitsSource.FILE,
            encode_s=encode_s,
            decode_s=decode_s,
            extra={"bitstream": data},
        )


class JpegCodec(PillowCodec):
    name = "jpeg"
    pil_format = "JPEG"

    class Config(PillowCodec.Config):
        # Pillow's defaults, as in CompressAI's published JPEG curve: 4:2:0, no optimize.
        subsampling: Literal["4:4:4", "4:2:2", "4:2:0"] = "4:2:0"
        """Chroma subsampling: 4:2:0 halves the colour resolution both ways."""
        optimize: bool = False
        """Optimised Huffman tables: a few percent fewer bits, the same pixels."""
        progressive: bool = False
        """Progressive scans instead of one baseline scan."""
        quality: int = Field(default=75, ge=1, le=100)
        """The encoder's quality setting: higher keeps more detail and costs more bits."""

    config: Config

    def save_options(self) -> dict[str, Any]:
        return {
            "quality": self.config.quality,
            "subsampling": _SUBSAMPLING[self.config.subsampling],
            "optimize": self.config.optimize,
            "progressive": self.config.progressive,
        }

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "libjpeg": features.version("jpg")}

    def rate_position(self, quality: int) -> float:
        # libjpeg scales its quantisation tables by 5000 / q below 50 and by 200 - 2q above;
        # log(bpp) is close to linear in the log of that scale from quality 10 to 95 (slope
        # 0.63, fitted on 20 of the Wikipedia photographs). On the other 29, matching takes
        # 3.6 encodes on average instead of 5.1 with a scale linear in quality.
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        return -0.63 * math.log(max(scale, 1))


class WebpCodec(PillowCodec):
    name = "webp"
    pil_format = "WEBP"

    class Config(PillowCodec.Config):
        method: int = Field(default=4, ge=0, le=6)
        """Encoder effort: 0 is fastest, 6 the smallest file at the same quality."""

    config: Config

    @classmethod
    def _check_available(cls) -> None:
        if not features.check("webp"):
            raise CodecUnavailable("Pillow was built without WebP support")

    def save_options(self) -> dict[str, Any]:
        return {"quality": self.config.quality, "method": self.config.method, "lossless": False}


class AvifCodec(PillowCodec):
    name = "avif"
    pil_format = "AVIF"

    class Config(PillowCodec.Config):
        speed: int = Field(default=6, ge=0, le=10)
        """Encoder speed: 0 is slowest and smallest, 10 fastest."""
        subsampling: Literal["4:4:4", "4:2:0"] = "4:2:0"
        """Chroma subsampling: 4:2:0 halves the colour resolution both ways."""

    config: Config

    @classmethod
    def _check_available(cls) -> None:
        if not features.check("avif"):
            raise CodecUnavailable("Pillow was built without AVIF support (Pillow >= 11.2)")

    def save_options(self) -> dict[str, Any]:
        return {
            "quality": self.config.quality,
            "speed": self.config.speed,
            "subsampling": self.config.subsampling,
        }


class JpegXlCodec(PillowCodec):
    name = "jpegxl"
    pil_format = "JXL"

    class Config(PillowCodec.Config):
        effort: int = Field(default=7, ge=1, le=9)
        """Encoder effort: 1 is fastest, 9 the smallest file at the same quality."""

    config: Config

    @classmethod
    def _check_available(cls) -> None:
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
        except ImportError:
            raise CodecUnavailable(
                "JPEG XL needs the pillow-jxl-plugin package (pip install pillow-jxl-plugin)"
            ) from None

    def save_options(self) -> dict[str, Any]:
        return {"quality": self.config.quality, "effort": self.config.effort}
