"""Command-line codecs declared by the operator: an encode and a decode command template, run
without a shell.

This is how HiFiC (tfci.py), Minnen & Singh 2020, CDC, BPG or VTM are run (docs/codecs.md has
worked recipes). The operator declares each codec on the server, in the TOML or JSON file that
``MISCOMP_EXTERNAL_CODECS`` names: its command templates, the qualities a run may choose, how
bits are counted. A run picks a declared codec by name and may set only its quality (within
the declared range); its seeds are the run's seeds. A request never gives a program, a
template or a path: whoever may queue runs must not be able to run commands on the workers.

Placeholders: ``{input}`` and ``{output}`` in both templates (the original image and the
compressed file when encoding; the compressed file and the reconstruction when decoding),
``{quality}`` for the quality, ``{seed}`` for stochastic codecs. They are replaced as plain
text (never ``str.format``, so nothing like ``{input.__class__}`` is evaluated), and any other
``{...}`` in a template refuses the declaration. Bits are the compressed file's size, or, for
research codecs that only estimate their rate (CDC), the integer the encoder writes to
``{output}.bits`` (``bits_from = "sidecar"``).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.domain.codecs.base import (
    GENERIC_RATE_SLOPE,
    RGB8,
    BitsSource,
    CodecError,
    CodecOutput,
    CodecUnavailable,
)
from app.domain.codecs.operator import OperatorSetup
from app.domain.validation import validation_message

PLACEHOLDERS = ("input", "output", "quality", "seed")
_REQUIRED_PLACEHOLDERS = ("input", "output")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
DECLARATION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
RUN_PARAMETERS = ("name", "quality")
"""All that a run may set for a command-line codec."""


class DeclarationError(ValueError):
    """The operator's declarations file cannot be used; the message says where and why."""


class ExternalDeclaration(BaseModel):
    """One command-line codec as the operator declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(default="", max_length=100)
    """Shown in plots and reports; empty for the declaration's name."""
    encode: str = Field(min_length=1)
    decode: str = Field(min_length=1)
    qualities: tuple[int, int] | None = None
    """Lowest and highest quality a run may choose, both included; None: no quality."""
    default_quality: int | None = None
    ladder: tuple[int, ...] = ()
    """Qualities a rate match may search, in increasing bits; empty for none."""
    input_format: Literal["png", "ppm", "bmp"] = "png"
    compressed_suffix: str = Field(default=".bin", pattern=r"^\.[A-Za-z0-9]{1,10}$")
    reconstruction_suffix: str = Field(default=".png", pattern=r"^\.(png|ppm|pnm|bmp|tif|tiff)$")
    timeout_s: float = Field(default=600, gt=0, le=7 * 24 * 3600)
    bits_from: Literal["file", "sidecar"] = "file"

    @field_validator("encode", "decode")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        used = _PLACEHOLDER.findall(template)
        unknown = sorted({p for p in used if p not in PLACEHOLDERS})
        if unknown:
            raise ValueError(
                f"unknown placeholder {', '.join('{' + p + '}' for p in unknown)}; "
                f"known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        missing = [p for p in _REQUIRED_PLACEHOLDERS if p not in used]
        if missing:
            raise ValueError(f"command template lacks {', '.join('{' + p + '}' for p in missing)}")
        shlex.split(template)  # unbalanced quotes fail here, not at run time
        return template

    @model_validator(mode="after")
    def _qualities_consistent(self) -> ExternalDeclaration:
        uses_quality = any("{quality}" in t for t in (self.encode, self.decode))
        if self.qualities is None:
            if uses_quality or self.default_quality is not None or self.ladder:
                raise ValueError(
                    "{quality}, default_quality and ladder need qualities = [LOW, HIGH]"
                )
            return self
        low, high = self.qualities
        if low > high:
            raise ValueError(f"qualities [{low}, {high}]: the lowest comes first")
        if not uses_quality:
            raise ValueError("qualities are declared but no template uses {quality}")
        outside = [
            q
            for q in (self.default_quality, *self.ladder)
            if q is not None and not low <= q <= high
        ]
        if outside:
            raise ValueError(f"default_quality and ladder must lie in [{low}, {high}]: {outside}")
        if list(self.ladder) != sorted(set(self.ladder)):
            raise ValueError("ladder must be strictly increasing")
        return self

    def programs(self) -> list[str]:
        return [shlex.split(template)[0] for template in (self.encode, self.decode)]

    def missing_program(self) -> str | None:
        """The first program of the templates that is not found, or None."""
        return next((p for p in self.programs() if shutil.which(p) is None), None)

    def describe(self) -> str:
        quality = (
            "no quality"
            if self.qualities is None
            else f"quality {self.qualities[0]}-{self.qualities[1]}"
            + ("" if self.default_quality is None else f" (default {self.default_quality})")
        )
        return f"{' and '.join(dict.fromkeys(self.programs()))}; {quality}"


def load_declarations(path: Path | None) -> dict[str, ExternalDeclaration]:
    """The command-line codecs declared in ``path`` (TOML, or JSON for a ``.json`` name): one
    table per codec, named by the table. No file declares none."""
    if path is None or not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeclarationError(f"command-line codecs file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise DeclarationError(f"command-line codecs file {path}: expected one table per codec")
    declarations: dict[str, ExternalDeclaration] = {}
    problems: list[str] = []
    for name, body in data.items():
        if not DECLARATION_NAME.match(name):
            problems.append(f"{name!r}: names are lower-case letters, digits, '.', '_', '-'")
            continue
        try:
            declarations[name] = ExternalDeclaration.model_validate(body)
        except ValidationError as exc:
            problems.append(validation_message(exc.errors(), within=name))
    if problems:
        raise DeclarationError(f"command-line codecs file {path}: {'; '.join(problems)}")
    return declarations


def _declaration(name: str, context: Any) -> ExternalDeclaration:
    operator = context.get("operator") if isinstance(context, dict) else None
    if not isinstance(operator, OperatorSetup):
        raise ValueError("command-line codecs are only known with the server's declarations")
    declared = load_declarations(operator.external_codecs_file)
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise ValueError(
            f"no command-line codec named {name!r} is declared on this server "
            f"(declared: {known}; the operator lists them in MISCOMP_EXTERNAL_CODECS)"
        )
    return declared[name]


class ExternalConfig(BaseModel):
    """What a run sets: which declared codec, and its quality. Validated with the operator's
    setup as context (``model_validate(params, context={"operator": setup})``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    name: str = Field(min_length=1, max_length=64)
    """The command-line codec, as the operator declared it on this server."""
    quality: int | None = Field(default=None, strict=True, validate_default=True)
    """Within the declared codec's qualities; empty for its default quality."""

    @model_validator(mode="before")
    @classmethod
    def _only_run_parameters(cls, data: Any) -> Any:
        if isinstance(data, dict):
            others = sorted(str(k) for k in data if k not in RUN_PARAMETERS)
            if others:
                raise ValueError(
                    f"a run sets only the name and quality of a command-line codec that the "
                    f"operator declared on the server (MISCOMP_EXTERNAL_CODECS); it cannot set "
                    f"{', '.join(others)}"
                )
        return data

    @field_validator("name")
    @classmethod
    def _is_declared(cls, name: str, info: ValidationInfo) -> str:
        _declaration(name, info.context)
        return name

    @field_validator("quality")
    @classmethod
    def _in_declared_range(cls, quality: int | None, info: ValidationInfo) -> int | None:
        name = info.data.get("name")
        if name is None:  # the name was refused already
            return quality
        declaration = _declaration(name, info.context)
        if declaration.qualities is None:
            if quality is not None:
                raise ValueError(f"{name} takes no quality")
            return None
        low, high = declaration.qualities
        if quality is None:
            if declaration.default_quality is None:
                raise ValueError(f"{name} needs a quality from {low} to {high}")
            return declaration.default_quality
        if not low <= quality <= high:
            raise ValueError(f"{name} has qualities {low}-{high}")
        return quality


class ExternalCodec:
    name = "external"
    Config = ExternalConfig
    uses_operator_setup = True

    @staticmethod
    def probe_with(operator: OperatorSetup | None) -> str:
        """Which codecs the operator declared; unavailable when none is, or none can run."""
        file = operator.external_codecs_file if operator else None
        declared = load_declarations(file)
        if not declared:
            raise CodecUnavailable(
                f"no command-line codecs are declared: the operator lists them in the file "
                f"MISCOMP_EXTERNAL_CODECS names ({file or 'unset'}; docs/codecs.md)"
            )
        runnable = [name for name, d in declared.items() if d.missing_program() is None]
        if not runnable:
            raise CodecUnavailable(f"none of the codecs declared in {file} finds its program")
        return f"declared in {file}: {', '.join(sorted(runnable))} (codec external, param name)"

    @staticmethod
    def sweep_ladder(params: dict[str, Any], operator: OperatorSetup | None) -> list[int]:
        """The ladder the operator declared for the codec."""
        name = params.get("name")
        if not isinstance(name, str):
            raise ValueError("name: choose a declared command-line codec")
        declaration = _declaration(name, {"operator": operator})
        if not declaration.ladder:
            raise ValueError(f"{name} declares no ladder: list the qualities to sweep")
        return list(declaration.ladder)

    @staticmethod
    def declared(operator: OperatorSetup) -> list[tuple[str, bool, str]]:
        """(name, whether it can run here, what it runs or why not) per declared codec."""
        rows = []
        for name, declaration in sorted(load_declarations(operator.external_codecs_file).items()):
            missing = declaration.missing_program()
            detail = declaration.describe() if missing is None else f"{missing!r} not found on PATH"
            rows.append((name, missing is None, detail))
        return rows

    @staticmethod
    def parameter_choices(operator: OperatorSetup) -> dict[str, tuple[str, ...]]:
        """The run form offers the declared codecs by name (none when the file is unreadable:
        the codecs page says why)."""
        try:
            return {"name": tuple(name for name, _, _ in ExternalCodec.declared(operator))}
        except ValueError:
            return {}

    def __init__(self, *, operator: OperatorSetup, **params: Any) -> None:
        self.config = ExternalConfig.model_validate(params, context={"operator": operator})
        self.declaration = _declaration(self.config.name, {"operator": operator})
        missing = self.declaration.missing_program()
        if missing is not None:
            raise CodecUnavailable(f"program {missing!r} not found on PATH")

    def identity(self) -> dict[str, Any]:
        return {
            "codec": self.name,
            **self.config.model_dump(mode="json"),
            "declaration": self.declaration.model_dump(mode="json"),
        }

    def quality_ladder(self) -> Sequence[int]:
        return self.declaration.ladder

    def at_quality(self, quality: int) -> Self:
        qualities = self.declaration.qualities
        if qualities is None or not qualities[0] <= quality <= qualities[1]:
            raise CodecError(f"{self.config.name} has no quality {quality}")
        twin = copy.copy(self)
        twin.config = self.config.model_copy(update={"quality": quality})
        return twin

    def rate_position(self, quality: int) -> float:
        return quality * GENERIC_RATE_SLOPE

    def _command(self, template: str, source: Path, target: Path, seed: int | None) -> list[str]:
        values = {
            "input": str(source),
            "output": str(target),
            "quality": "" if self.config.quality is None else str(self.config.quality),
            "seed": "0" if seed is None else str(seed),
        }
        # One pass of plain replacement: a value is never scanned again, and nothing in a
        # placeholder is evaluated (declarations hold only these four names).
        return [
            _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), part)
            for part in shlex.split(template)
        ]

    def _run(self, command: list[str], step: str) -> float:
        started = time.perf_counter()
        try:
            completed = subprocess.run(
                command, capture_output=True, timeout=self.declaration.timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise CodecError(f"{step} timed out after {self.declaration.timeout_s:g} s") from None
        except OSError as exc:
            raise CodecError(f"{step} could not start: {exc}") from None
        if completed.returncode != 0:
            stderr = completed.stderr.decode(errors="replace").strip()[-2000:]
            raise CodecError(f"{step} exited with status {completed.returncode}: {stderr}")
        return time.perf_counter() - started

    def encode_decode(self, rgb: RGB8, *, seed: int | None = None) -> CodecOutput:
        with tempfile.TemporaryDirectory(prefix="miscomp-codec-") as folder:
            work = Path(folder)
            source = work / f"original.{self.declaration.input_format}"
            compressed = work / f"compressed{self.declaration.compressed_suffix}"
            reconstruction = work / f"reconstruction{self.declaration.reconstruction_suffix}"
            Image.fromarray(rgb, mode="RGB").save(source)
            encode_s = self._run(
                self._command(self.declaration.encode, source, compressed, seed), "encode"
            )
            if not compressed.exists() or compressed.stat().st_size == 0:
                raise CodecError("encode wrote no compressed file")
            decode_s = self._run(
                self._command(self.declaration.decode, compressed, reconstruction, seed), "decode"
            )
            try:
                with Image.open(reconstruction) as decoded:
                    recon = np.asarray(decoded.convert("RGB"), dtype=np.uint8)
            except (OSError, ValueError) as exc:
                raise CodecError(f"decode wrote no readable image: {exc}") from None
            bits, bits_source = compressed.stat().st_size * 8, BitsSource.FILE
            if self.declaration.bits_from == "sidecar":
                sidecar = compressed.with_name(compressed.name + ".bits")
                try:
                    bits, bits_source = int(sidecar.read_text().strip()), BitsSource.ESTIMATE
                except (OSError, ValueError) as exc:
                    raise CodecError(f"encode wrote no readable {sidecar.name}: {exc}") from None
            return CodecOutput(
                recon, bits=bits, bits_source=bits_source, encode_s=encode_s, decode_s=decode_s
            )
