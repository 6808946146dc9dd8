"""The codec interface every plugin implements, and what a codec returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

RGB8 = NDArray[np.uint8]


class BitsSource(StrEnum):
    BITSTREAM = "bitstream"
    """Counted from the real entropy-coded strings (CompressAI's compress())."""
    FILE = "file"
    """The size of the compressed file the codec wrote (JPEG, WebP, command-line codecs)."""
    ESTIMATE = "estimate"
    """From likelihoods, not from coding (stochastic or research codecs without a coder)."""
    REPORTED = "reported"
    """Given by whoever made an imported reconstruction."""


class CodecError(RuntimeError):
    """The codec failed on this image; the message is recorded on the result."""


class CodecUnavailable(RuntimeError):
    """The codec cannot run on this machine (missing package, weights or program)."""


@dataclass(frozen=True)
class CodecOutput:
    reconstruction: RGB8
    bits: int
    bits_source: BitsSource
    encode_s: float
    decode_s: float
    device: str = "cpu"
    notes: tuple[str, ...] = ()
    invalid_reason: str | None = None
    """Set when the decode is broken (for example, compress/decompress disagrees with
    forward()); such results never reach annotators."""
    extra: dict[str, Any] = field(default_factory=dict)

    def bpp(self) -> float:
        height, width = self.reconstruction.shape[:2]
        return float(self.bits) / float(width * height)


class Codec(Protocol):
    """One configured codec (name plus every parameter that defines its output)."""

    @property
    def name(self) -> str: ...

    def identity(self) -> dict[str, Any]:
        """Every parameter that changes the output, stored with each result."""
        ...

    def encode_decode(self, rgb: RGB8, *, seed: int | None = None) -> CodecOutput: ...


class LadderCodec(Codec, Protocol):
    """A codec with a discrete quality parameter in which bits grow monotonically."""

    def quality_ladder(self) -> Sequence[int]: ...

    def at_quality(self, quality: int) -> LadderCodec: ...

    def rate_position(self, quality: int) -> float:
        """Where ``quality`` lies on a scale, increasing with quality, along which log(bpp)
        grows by about 1 per unit on photographs. The rate matcher interpolates and
        extrapolates on it: any increasing scale finds the match, a good one in fewer
        encodes."""
        ...


GENERIC_RATE_SLOPE = 0.02
"""log(bpp) per quality step of a ladder codec without a model of its own: bpp about doubles
every 35 steps, as WebP's and AVIF's do on photographs."""


def check_output(rgb: RGB8, output: CodecOutput) -> CodecOutput:
    """Every codec's output must be the original's size, 8-bit RGB."""
    recon = output.reconstruction
    if recon.shape != rgb.shape or recon.dtype != np.uint8:
        raise CodecError(
            f"reconstruction is {recon.shape} {recon.dtype}, expected {rgb.shape} uint8"
        )
    if output.bits <= 0:
        raise CodecError(f"codec reported {output.bits} bits")
    return output


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started
