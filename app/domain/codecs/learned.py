"""Learned codecs from CompressAI: the zoo's image architectures and any compatible checkpoint.

torch and compressai are imported only when a codec is built, inside a worker, so the web
process (which validates parameters through the Config models) never loads them, and a GPU
worker never touches CUDA before its pool forks.

Weights come only from local files, in the folder the operator declares (``OperatorSetup``,
``MISCOMP_WEIGHTS_DIR``): a run names files and sub-folders relative to it and can never point
a worker at another file. Zoo weights are looked up there by CompressAI's own file names (the
8 hex digits in each name are the start of its sha256, which is checked); a missing file is
an error naming the file, where its owner publishes it and the `miscomp codecs fetch` command
that downloads it there (``catalogue.py``; nothing here downloads).
Bits are counted from the real ``compress()`` strings, and every decode is checked against
``forward()``: a disagreement marks the result invalid (an entropy-coding desync is not a
miscompression and must never reach annotators).
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from collections import OrderedDict
from pathlib import Path, PurePosixPath
from threading import Lock
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.domain.codecs import catalogue
from app.domain.codecs.base import RGB8, BitsSource, CodecError, CodecOutput, CodecUnavailable
from app.domain.codecs.operator import OperatorSetup, check_relative_name, resolve_in_folder

ZOO_QUALITIES: dict[str, range] = {
    "bmshj2018-factorized": range(1, 9),
    "bmshj2018-hyperprior": range(1, 9),
    "mbt2018-mean": range(1, 9),
    "mbt2018": range(1, 9),
    "cheng2020-anchor": range(1, 7),
    "cheng2020-attn": range(1, 7),
}
AUTOREGRESSIVE = frozenset({"mbt2018", "cheng2020-anchor", "cheng2020-attn"})
"""CompressAI advises running these on the CPU: their entropy coder runs sequentially."""
ZooArch = Literal[
    "bmshj2018-factorized",
    "bmshj2018-hyperprior",
    "mbt2018-mean",
    "mbt2018",
    "cheng2020-anchor",
    "cheng2020-attn",
]
PAD_MULTIPLE = 64
# Decodes whose 8-bit output differs from forward() by more than this are invalid. Measured:
# 0 for the hyperprior and about 0.006 (in [0, 1], i.e. under 2 levels) for mbt2018 on CPU.
MAX_DECODE_MISMATCH = 4
MODEL_CACHE_SIZE = 4


def torch_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "compressai"))


class LearnedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the model runs: auto takes a GPU when the worker has one."""
    check_decode: bool = True
    """Decode the real bitstream and compare it with the model's forward pass; a mismatch
    marks the result invalid."""


def _in_weights_folder(name: str, info: ValidationInfo) -> str:
    """A run's file or folder name, relative to the operator's weights folder. Checked for
    its form everywhere; with the operator's setup as context (the web at run creation, the
    worker when building), also for symbolic links that lead out of the folder."""
    operator = info.context.get("operator") if isinstance(info.context, dict) else None
    if isinstance(operator, OperatorSetup):
        resolve_in_folder(operator.weights_dir, name)
    else:
        check_relative_name(name)
    return name


class CompressAIConfig(LearnedConfig):
    arch: ZooArch
    """The architecture in CompressAI's model zoo."""
    quality: int = Field(ge=1, le=8)
    """The zoo's quality level (1 is the lowest rate; cheng2020 models stop at 6)."""
    metric: Literal["mse", "ms-ssim"] = "mse"
    """The distortion the published weights were trained for."""
    pretrained: bool = True
    """False builds the architecture with random weights (tests, smoke runs)."""
    weights_dir: str = ""
    """Sub-folder of the weights folder with CompressAI's weight files; empty for the weights
    folder itself."""
    init_seed: int = 0
    """Seed of the random initialisation when pretrained is False."""

    @field_validator("weights_dir")
    @classmethod
    def _weights_dir_in_weights_folder(cls, weights_dir: str, info: ValidationInfo) -> str:
        return _in_weights_folder(weights_dir, info) if weights_dir else weights_dir

    @model_validator(mode="after")
    def _quality_in_range(self) -> CompressAIConfig:
        qualities = ZOO_QUALITIES[self.arch]
        if self.quality not in qualities:
            raise ValueError(f"{self.arch} has qualities {qualities.start}-{qualities.stop - 1}")
        return self


class CheckpointConfig(LearnedConfig):
    path: str = Field(min_length=1, max_length=1000)
    """The checkpoint file, relative to the weights folder."""
    arch: ZooArch
    """The CompressAI architecture the checkpoint was trained with."""
    sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    """When given, the file must have this sha256."""

    @field_validator("path")
    @classmethod
    def _path_in_weights_folder(cls, path: str, info: ValidationInfo) -> str:
        return _in_weights_folder(path, info)


_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_cache_lock = Lock()


def _cached_model(key: tuple[Any, ...], build: Any) -> Any:
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    model = build()
    with _cache_lock:
        _cache[key] = model
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def zoo_weights_file(arch: str, metric: str, quality: int) -> tuple[str, str]:
    """(CompressAI's file name, the URL where its owner publishes it), from the weights
    catalogue that `miscomp codecs fetch` downloads by: the fetched file lands where this
    codec looks."""
    try:
        weights = catalogue.compressai_file(arch, metric, quality)
    except catalogue.CatalogueError as exc:
        raise CodecUnavailable(str(exc)) from None
    return weights.file_name, weights.url()


def _state_dict_from(path: Path) -> dict[str, Any]:
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling, zip and format errors alike: not a checkpoint
        raise CodecError(
            f"{path.name} is not a readable PyTorch checkpoint: {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(loaded, dict):
        for key in ("network", "state_dict", "model_state_dict"):
            if key in loaded and isinstance(loaded[key], dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict):
        raise CodecUnavailable(f"{path} is not a CompressAI state dict or checkpoint")
    return loaded


def _model_from_state_dict(arch: str, state_dict: dict[str, Any], *, update: bool) -> Any:
    from compressai.zoo.image import model_architectures
    from compressai.zoo.pretrained import load_pretrained

    model = model_architectures[arch].from_state_dict(load_pretrained(state_dict))
    if update:
        model.update(force=True)
    return model.eval()


def decode_mismatch(forward: RGB8, decoded: RGB8) -> tuple[int, str | None]:
    """How far a decode is from ``forward()`` at its worst pixel, in 8-bit levels, and why
    the decode is invalid when that is over MAX_DECODE_MISMATCH (None when it is not)."""
    mismatch = int(np.abs(forward.astype(np.int16) - decoded).max())
    if mismatch <= MAX_DECODE_MISMATCH:
        return mismatch, None
    return mismatch, (
        f"invalid decode: decompress() differs from forward() by up to {mismatch} levels "
        f"(limit {MAX_DECODE_MISMATCH})"
    )


class _TorchCodec:
    """Shared compress/decompress/consistency logic of the CompressAI adapters."""

    name: str
    config: LearnedConfig
    arch: str
    weights_sha256: str | None = None

    @staticmethod
    def probe() -> str:
        if not torch_available():
            raise CodecUnavailable(
                "needs PyTorch and CompressAI: pip install -e '.[neural]' on the worker"
            )
        from importlib.metadata import version

        return f"torch {version('torch')}, compressai {version('compressai')}"

    def _device(self) -> str:
        import torch

        wanted = self.config.device
        if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise CodecUnavailable("device cuda requested but no GPU is visible")
            if self.arch in AUTOREGRESSIVE and wanted == "auto":
                return "cpu"
            return "cuda"
        return "cpu"

    def _model(self, device: str) -> Any:
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        return {
            "codec": self.name,
            **self.config.model_dump(mode="json"),
            "weights_sha256": self.weights_sha256,
        }

    def encode_decode(self, rgb: RGB8, *, seed: int | None = None) -> CodecOutput:
        import torch
        import torch.nn.functional as functional
        from compressai.ops import compute_padding

        device = self._device()
        model = self._model(device)
        height, width = rgb.shape[:2]
        pad, unpad = compute_padding(height, width, min_div=PAD_MULTIPLE)
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div(255.0)
        x = functional.pad(x.unsqueeze(0).to(device), pad, mode="constant", value=0)
        with torch.no_grad():
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            encoded = model.compress(x)
            if device == "cuda":
                torch.cuda.synchronize()
            encode_s = time.perf_counter() - started
            started = time.perf_counter()
            decoded = model.decompress(encoded["strings"], encoded["shape"])
            if device == "cuda":
                torch.cuda.synchronize()
            decode_s = time.perf_counter() - started
            recon = self._to_rgb8(functional.pad(decoded["x_hat"], unpad))
            bits = sum(len(s) for strings in encoded["strings"] for s in strings) * 8
            notes: list[str] = []
            invalid: str | None = None
            extra: dict[str, Any] = {"padded_to": list(x.shape[-2:])}
            if self.config.check_decode:
                forward = self._to_rgb8(functional.pad(model(x)["x_hat"], unpad))
                mismatch, invalid = decode_mismatch(forward, recon)
                extra["decode_forward_max_abs_diff"] = mismatch
        if (height, width) != tuple(x.shape[-2:]):
            notes.append(f"zero-padded to {x.shape[-1]}x{x.shape[-2]} for the model")
        return CodecOutput(
            recon,
            bits=bits,
            bits_source=BitsSource.BITSTREAM,
            encode_s=encode_s,
            decode_s=decode_s,
            device=device,
            notes=tuple(notes),
            invalid_reason=invalid,
            extra=extra,
        )

    @staticmethod
    def _to_rgb8(tensor: Any) -> RGB8:
        array = tensor.squeeze(0).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
        return np.ascontiguousarray(array.cpu().numpy())


class CompressAICodec(_TorchCodec):
    name = "compressai"
    Config = CompressAIConfig
    uses_operator_setup = True

    @staticmethod
    def sweep_ladder(params: dict[str, Any], operator: OperatorSetup | None) -> list[int]:
        """Every quality the zoo publishes for the architecture."""
        arch = params.get("arch")
        if arch not in ZOO_QUALITIES:
            raise ValueError(f"arch: choose one of {', '.join(sorted(ZOO_QUALITIES))}")
        return list(ZOO_QUALITIES[arch])

    def __init__(self, *, operator: OperatorSetup | None = None, **params: Any) -> None:
        """``operator`` gives the weights folder; random weights (pretrained=False) need none."""
        self.config: CompressAIConfig = CompressAIConfig.model_validate(
            params, context={"operator": operator}
        )
        self.arch = self.config.arch
        self.probe()
        self._weights: Path | None = None
        if self.config.pretrained:
            if operator is None:
                raise CodecUnavailable("pretrained weights need the operator's weights folder")
            filename, url = zoo_weights_file(self.arch, self.config.metric, self.config.quality)
            path = resolve_in_folder(
                operator.weights_dir, str(PurePosixPath(self.config.weights_dir) / filename)
            )
            folder = path.parent
            if not path.is_file():
                raise CodecUnavailable(
                    f"weights file {filename} not found in {folder}; CompressAI publishes it at "
                    f"{url}: copy it there, or `miscomp codecs fetch {self.arch} --metric "
                    f"{self.config.metric} --quality {self.config.quality}` downloads it"
                )
            expected = filename.rsplit("-", 1)[1].split(".", 1)[0]
            actual = sha256_of(path)
            if not actual.startswith(expected):
                raise CodecUnavailable(
                    f"{path}: sha256 {actual[:8]}... does not match the {expected} in its name"
                )
            self._weights = path
            self.weights_sha256 = actual

    def _model(self, device: str) -> Any:
        config = self.config
        key = (
            "zoo",
            config.arch,
            config.metric,
            config.quality,
            str(self._weights),
            config.init_seed,
            device,
        )

        def build() -> Any:
            import torch
            from compressai.zoo import image_models

            if self._weights is not None:
                model = _model_from_state_dict(
                    config.arch, _state_dict_from(self._weights), update=False
                )
            else:
                torch.manual_seed(config.init_seed)
                model = image_models[config.arch](
                    quality=config.quality, metric=config.metric, pretrained=False
                )
                model.update(force=True)
            return model.eval().to(device)

        return _cached_model(key, build)


class CheckpointCodec(_TorchCodec):
    """Any CompressAI-compatible checkpoint file in the operator's weights folder, named
    relative to it (bare state dict or a training checkpoint with
    ``state_dict``/``network``/``model_state_dict``)."""

    name = "checkpoint"
    Config = CheckpointConfig
    uses_operator_setup = True

    def __init__(self, *, operator: OperatorSetup, **params: Any) -> None:
        self.config: CheckpointConfig = CheckpointConfig.model_validate(
            params, context={"operator": operator}
        )
        self.arch = self.config.arch
        self.probe()
        self._path = resolve_in_folder(operator.weights_dir, self.config.path)
        if not self._path.is_file():
            raise CodecUnavailable(
                f"checkpoint file {self.config.path!r} not found in the weights folder "
                f"{operator.weights_dir}"
            )
        self.weights_sha256 = sha256_of(self._path)
        if self.config.sha256 and self.weights_sha256 != self.config.sha256:
            raise CodecUnavailable(f"{self._path}: sha256 {self.weights_sha256} does not match")

    def _model(self, device: str) -> Any:
        key = ("checkpoint", str(self._path), self.weights_sha256, device)

        def build() -> Any:
            state_dict = _state_dict_from(self._path)
            try:
                # Training checkpoints may lack up-to-date entropy tables: rebuild them.
                model = _model_from_state_dict(self.arch, state_dict, update=True)
            except Exception as exc:  # missing keys, shape mismatches: another architecture
                raise CodecError(
                    f"{self.config.path} is not a {self.arch} checkpoint: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            return model.to(device)

        return _cached_model(key, build)


class InMemoryCodec(_TorchCodec):
    """A model being trained, coded exactly as a stored checkpoint would be (validation)."""

    name = "in-memory"

    def __init__(self, model: Any, arch: str, device: Literal["cpu", "cuda"] = "cpu") -> None:
        self.config = LearnedConfig(device=device, check_decode=False)
        self.arch = arch
        self._in_memory = model

    def _model(self, device: str) -> Any:
        return self._in_memory
