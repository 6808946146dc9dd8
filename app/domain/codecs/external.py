"""Command-line codecs: an encode and a decode command template, run without a shell.

This is how HiFiC (tfci.py), Minnen & Singh 2020, CDC, BPG or VTM are run (docs/codecs.md has
worked recipes). Placeholders: ``{input}`` and ``{output}`` in both templates (the original
image and the compressed file when encoding; the compressed file and the reconstruction when
decoding), ``{quality}`` for the quality parameter, ``{seed}`` for stochastic codecs. Bits
are the compressed file's size, or, for research codecs that only estimate their rate (CDC),
the integer the encoder writes to ``{output}.bits`` (``bits_from="sidecar"``).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.domain.codecs.base import (
    GENERIC_RATE_SLOPE,
    RGB8,
    BitsSource,
    CodecError,
    CodecOutput,
    CodecUnavailable,
)

_PLACEHOLDERS = ("{input}", "{output}")


class ExternalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1, max_length=100)
    encode: str = Field(min_length=1)
    decode: str = Field(min_length=1)
    quality: int | None = None
    ladder: tuple[int, ...] = ()
    """Qualities a rate match may search, in increasing bits; empty for none."""
    input_format: Literal["png", "ppm", "bmp"] = "png"
    compressed_suffix: str = Field(default=".bin", pattern=r"^\.[A-Za-z0-9]{1,10}$")
    reconstruction_suffix: str = Field(default=".png", pattern=r"^\.(png|ppm|pnm|bmp|tif|tiff)$")
    timeout_s: float = Field(default=600, gt=0)
    bits_from: Literal["file", "sidecar"] = "file"

    @field_validator("encode", "decode")
    @classmethod
    def _has_placeholders(cls, template: str) -> str:
        missing = [p for p in _PLACEHOLDERS if p not in template]
        if missing:
            raise ValueError(f"command template lacks {', '.join(missing)}")
        shlex.split(template)  # unbalanced quotes fail here, not at run time
        return template


class ExternalCodec:
    name = "external"
    Config = ExternalConfig

    @staticmethod
    def probe() -> str:
        return "runs the encode and decode command templates given as parameters"

    def __init__(self, **params: Any) -> None:
        self.config = ExternalConfig(**params)
        for template in (self.config.encode, self.config.decode):
            program = shlex.split(template)[0]
            if shutil.which(program) is None:
                raise CodecUnavailable(f"program {program!r} not found on PATH")

    def identity(self) -> dict[str, Any]:
        return {"codec": self.name, **self.config.model_dump(mode="json")}

    def quality_ladder(self) -> Sequence[int]:
        return self.config.ladder

    def at_quality(self, quality: int) -> Self:
        return type(self)(**{**self.config.model_dump(), "quality": quality})

    def rate_position(self, quality: int) -> float:
        return quality * GENERIC_RATE_SLOPE

    def _command(self, template: str, source: Path, target: Path, seed: int | None) -> list[str]:
        values = {
            "input": str(source),
            "output": str(target),
            "quality": "" if self.config.quality is None else str(self.config.quality),
            "seed": "0" if seed is None else str(seed),
        }
        return [part.format(**values) for part in shlex.split(template)]

    def _run(self, command: list[str], step: str) -> float:
        started = time.perf_counter()
        try:
            completed = subprocess.run(
                command, capture_output=True, timeout=self.config.timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise CodecError(f"{step} timed out after {self.config.timeout_s:g} s") from None
        except OSError as exc:
            raise CodecError(f"{step} could not start: {exc}") from None
        if completed.returncode != 0:
            stderr = completed.stderr.decode(errors="replace").strip()[-2000:]
            raise CodecError(f"{step} exited with status {completed.returncode}: {stderr}")
        return time.perf_counter() - started

    def encode_decode(self, rgb: RGB8, *, seed: int | None = None) -> CodecOutput:
        with tempfile.TemporaryDirectory(prefix="miscomp-codec-") as folder:
            work = Path(folder)
            source = work / f"original.{self.config.input_format}"
            compressed = work / f"compressed{self.config.compressed_suffix}"
            reconstruction = work / f"reconstruction{self.config.reconstruction_suffix}"
            Image.fromarray(rgb, mode="RGB").save(source)
            encode_s = self._run(
                self._command(self.config.encode, source, compressed, seed), "encode"
            )
            if not compressed.exists() or compressed.stat().st_size == 0:
                raise CodecError("encode wrote no compressed file")
            decode_s = self._run(
                self._command(self.config.decode, compressed, reconstruction, seed), "decode"
            )
            try:
                with Image.open(reconstruction) as decoded:
                    recon = np.asarray(decoded.convert("RGB"), dtype=np.uint8)
            except (OSError, ValueError) as exc:
                raise CodecError(f"decode wrote no readable image: {exc}") from None
            bits, bits_source = compressed.stat().st_size * 8, BitsSource.FILE
            if self.config.bits_from == "sidecar":
                sidecar = compressed.with_name(compressed.name + ".bits")
                try:
                    bits, bits_source = int(sidecar.read_text().strip()), BitsSource.ESTIMATE
                except (OSError, ValueError) as exc:
                    raise CodecError(f"encode wrote no readable {sidecar.name}: {exc}") from None
            return CodecOutput(
                recon, bits=bits, bits_source=bits_source, encode_s=encode_s, decode_s=decode_s
            )
