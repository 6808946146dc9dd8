"""Training the project's own learned codecs (CompressAI architectures, rate-distortion loss).

Random crops with flips from a folder of photographs, a fixed seed, the rate-distortion loss
lambda * 255^2 * MSE + bpp and the entropy bottleneck's auxiliary loss, as CompressAI's own
example trainer. Checkpoints hold the optimisers and every random generator's state, so a
resumed training continues exactly where it stopped: the same weights as without the stop.
Validation measures real bits from compress(), not only the likelihood estimate.

torch and compressai are imported inside the functions: this module is imported by the CLI.

Why one long module: the data, the loop, the checkpoint format and the resume that must
restore every generator exactly are one contract; split, a change to one would silently
break the exact resume that tests/domain/test_training.py checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

TrainArch = Literal["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: Path
    arch: TrainArch = "mbt2018-mean"
    N: int = Field(default=64, ge=4)
    M: int = Field(default=96, ge=4)
    lmbda: float = Field(default=0.0035, gt=0)
    steps: int = Field(default=100_000, ge=1)
    out: Path
    val: Path | None = None
    device: Literal["cpu", "cuda"] = "cpu"
    batch_size: int = Field(default=8, ge=1)
    patch: int = Field(default=256, ge=64)
    lr: float = Field(default=1e-4, gt=0)
    aux_lr: float = Field(default=1e-3, gt=0)
    seed: int = 0
    val_every: int = Field(default=1000, ge=1)
    checkpoint_every: int = Field(default=500, ge=1)
    threads: int = Field(default=2, ge=1)
    init: Path | None = None
    """Weights to start from (a trained or shipped model): a warm start with fresh optimisers,
    unlike --resume, which continues a training state exactly."""


MAX_CONSECUTIVE_SKIPS = 20
"""Batches in a row with a non-finite loss after which training stops."""


class TrainingDiverged(RuntimeError):
    """The loss stayed non-finite: continuing would only write NaN weights."""


@dataclass
class Progress:
    step: int
    steps: int
    loss: float
    bpp: float
    psnr: float
    validation: dict[str, float] = field(default_factory=dict)


def image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _load_rgb(path: Path) -> np.ndarray:  # type: ignore[type-arg]
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def build_model(arch: str, n: int, m: int) -> Any:
    from compressai.models import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior

    classes = {
        "bmshj2018-factorized": FactorizedPrior,
        "bmshj2018-hyperprior": ScaleHyperprior,
        "mbt2018-mean": MeanScaleHyperprior,
    }
    return classes[arch](N=n, M=m)


class _Crops:
    """Random crops with horizontal and vertical flips, from one numpy generator."""

    def __init__(self, images: list[np.ndarray], patch: int, rng: np.random.Generator) -> None:  # type: ignore[type-arg]
        self.images = [self._padded(image, patch) for image in images]
        self.patch = patch
        self.rng = rng

    @staticmethod
    def _padded(image: np.ndarray, patch: int) -> np.ndarray:  # type: ignore[type-arg]
        h, w = image.shape[:2]
        if h >= patch and w >= patch:
            return image
        return np.pad(
            image, ((0, max(0, patch - h)), (0, max(0, patch - w)), (0, 0)), mode="reflect"
        )

    def batch(self, size: int) -> np.ndarray:  # type: ignore[type-arg]
        crops = []
        for _ in range(size):
            image = self.images[int(self.rng.integers(len(self.images)))]
            h, w = image.shape[:2]
            y = int(self.rng.integers(h - self.patch + 1))
            x = int(self.rng.integers(w - self.patch + 1))
            crop = image[y : y + self.patch, x : x + self.patch]
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            if self.rng.random() < 0.5:
                crop = crop[::-1]
            crops.append(np.ascontiguousarray(crop))
        return np.stack(crops)


def _optimizers(model: Any, config: TrainConfig) -> tuple[Any, Any]:
    import torch

    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    return torch.optim.Adam(main, lr=config.lr), torch.optim.Adam(aux, lr=config.aux_lr)


def validate(
    model: Any, arch: str, files: list[Path], device: Literal["cpu", "cuda"] = "cpu"
) -> dict[str, float]:
    """Real coding: bits from compress(), PSNR and MS-SSIM of decompress() on 8-bit output."""
    from app.domain.codecs.learned import InMemoryCodec
    from app.domain.metrics import ms_ssim_rgb, psnr_rgb

    model.update(force=True)
    codec = InMemoryCodec(model, arch, device)
    bpps, psnrs, msssims = [], [], []
    for path in files:
        rgb = _load_rgb(path)
        out = codec.encode_decode(rgb)
        bpps.append(out.bpp())
        psnrs.append(psnr_rgb(rgb, out.reconstruction))
        score = ms_ssim_rgb(rgb, out.reconstruction)
        if score is not None:
            msssims.append(score)
    return {
        "bpp": float(np.mean(bpps)),
        "psnr_rgb": float(np.mean(psnrs)),
        "ms_ssim_rgb": float(np.mean(msssims)) if msssims else float("nan"),
        "images": float(len(files)),
    }


def train(
    config: TrainConfig,
    *,
    resume: Path | None = None,
    report: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    # cuBLAS is deterministic only with a fixed workspace, set before CUDA starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch
    from compressai.losses import RateDistortionLoss

    if config.device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA GPU is visible to PyTorch on this machine")
        # Resuming exactly needs the same kernels every time: cuDNN's autotuner and its
        # non-deterministic algorithms would make every run of the same steps differ.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.set_num_threads(config.threads)
    files = image_files(config.data)
    val_files = image_files(config.val) if config.val else []
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_model(config.arch, config.N, config.M).to(config.device)
    optimizer, aux_optimizer = _optimizers(model, config)
    step = 0
    elapsed_before = 0.0
    lr_schedule: list[list[float]] = [[0, config.lr]]
    if config.init is not None and resume is None:
        from app.domain.codecs.learned import _model_from_state_dict, _state_dict_from

        weights = {
            k: v.float() if v.is_floating_point() else v
            for k, v in _state_dict_from(config.init).items()
        }
        # Built by CompressAI's loader, which sizes the entropy tables from the file.
        model.load_state_dict(
            _model_from_state_dict(config.arch, weights, update=True).state_dict()
        )
    if resume is not None:
        # Read onto the CPU: the random generators' states must stay CPU tensors, and
        # load_state_dict copies weights and optimiser moments onto the model's device.
        state = torch.load(resume, map_location="cpu", weights_only=False)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        aux_optimizer.load_state_dict(state["aux_optimizer"])
        rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        if config.device == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])  # the training noise's
        step, elapsed_before = int(state["step"]), float(state.get("elapsed_s", 0.0))
        lr_schedule = state.get("lr_schedule") or [[0, optimizer.param_groups[0]["lr"]]]
        if config.lr != optimizer.param_groups[0]["lr"]:
            # A different --lr on resume is a deliberate step of the schedule (for example a
            # decay to fine-tune): applied from here on and recorded in the model card.
            for group in optimizer.param_groups:
                group["lr"] = config.lr
            lr_schedule.append([step, config.lr])
    crops = _Crops([_load_rgb(f) for f in files], config.patch, rng)
    criterion = RateDistortionLoss(lmbda=config.lmbda)
    started = time.perf_counter()
    validation: dict[str, float] = {}
    skipped = consecutive_skips = 0
    model.train()
    while step < config.steps:
        batch = torch.from_numpy(crops.batch(config.batch_size)).permute(0, 3, 1, 2)
        x = batch.float().div(255.0).to(config.device)
        optimizer.zero_grad()
        aux_optimizer.zero_grad()
        out = model(x)
        losses = criterion(out, x)
        if not torch.isfinite(losses["loss"]):
            # A likelihood that underflowed on this batch: stepping on it would turn every
            # weight into NaN. The batch is skipped and counted; a run of them stops training.
            skipped += 1
            consecutive_skips += 1
            if consecutive_skips >= MAX_CONSECUTIVE_SKIPS:
                raise TrainingDiverged(
                    f"the loss was not finite for {consecutive_skips} batches in a row at step "
                    f"{step}; resume from the last training state with a lower --lr"
                )
            continue
        consecutive_skips = 0
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        aux_loss = model.aux_loss()
        aux_loss.backward()
        aux_optimizer.step()
        step += 1
        mse = losses["mse_loss"].item()
        progress = Progress(
            step,
            config.steps,
            losses["loss"].item(),
            losses["bpp_loss"].item(),
            10 * np.log10(1.0 / max(mse, 1e-12)),
        )
        if val_files and (step % config.val_every == 0 or step == config.steps):
            model.eval()
            validation = validate(model, config.arch, val_files, config.device)
            model.train()
            progress.validation = validation
        if step % config.checkpoint_every == 0 or step == config.steps:
            _save_training_state(
                config,
                model,
                optimizer,
                aux_optimizer,
                rng,
                step,
                elapsed_before + time.perf_counter() - started,
                lr_schedule,
            )
        if report:
            report(progress)
    model.eval()
    if val_files and not validation:
        # A resumed training that was already at its last step still reports real figures.
        validation = validate(model, config.arch, val_files, config.device)
    model.update(force=True)
    wall = elapsed_before + time.perf_counter() - started
    torch.save(model.state_dict(), config.out)
    return write_model_card(config, files, validation, wall, lr_schedule, skipped)


def pack_for_shipping(weights: Path, out: Path) -> dict[str, Any]:
    """Write trained weights as a shipped model (float16; see codecs/shipped.py) with its
    model card, whose weights file and sha256 now describe the packed file."""
    import torch

    from app.domain.codecs.shipped import pack_weights

    card_path = weights.with_suffix(".json")
    if not card_path.is_file():
        raise ValueError(f"{card_path}: no model card beside the weights")
    card: dict[str, Any] = json.loads(card_path.read_text())
    state = torch.load(weights, map_location="cpu", weights_only=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(pack_weights(state), out)
    card.update(
        weights_file=out.name,
        weights_sha256=_sha256(out),
        storage="float16 (entropy tables rebuilt on load)",
        trained_weights_sha256=card.get("weights_sha256"),
    )
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    markdown = weights.with_suffix(".md")
    if markdown.is_file():
        text = markdown.read_text().replace(weights.name, out.name)
        text = text.replace(str(card["trained_weights_sha256"]), card["weights_sha256"])
        out.with_suffix(".md").write_text(text)
    return card


def training_state_path(out: Path) -> Path:
    return out.with_name(out.name + ".training")


def _save_training_state(
    config: TrainConfig,
    model: Any,
    optimizer: Any,
    aux_optimizer: Any,
    rng: np.random.Generator,
    step: int,
    elapsed_s: float,
    lr_schedule: list[list[float]],
) -> None:
    import torch

    path = training_state_path(config.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "step": step,
            "elapsed_s": elapsed_s,
            "config": config.model_dump(mode="json"),
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "aux_optimizer": aux_optimizer.state_dict(),
            "rng": {
                "numpy": rng.bit_generator.state,
                "torch": torch.get_rng_state(),
                # On a GPU the quantisation noise of training comes from CUDA's generator.
                **({"cuda": torch.cuda.get_rng_state_all()} if config.device == "cuda" else {}),
            },
            "lr_schedule": lr_schedule,
        },
        tmp,
    )
    tmp.replace(path)  # atomic: a stop mid-write never leaves a broken checkpoint


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _warm_start(init: Path | None) -> dict[str, Any] | None:
    """Where a warm-started model began: the weights file and, when it has one beside it, the
    card of that model (so a chain of trainings stays traceable)."""
    if init is None:
        return None
    card = init.with_suffix(".json")
    earlier = json.loads(card.read_text()) if card.exists() else None
    if earlier is not None:
        earlier.pop("training_data", None)  # the same folder; its hashes are in this card
        earlier.pop("validation_data", None)
    return {"file": init.name, "sha256": _sha256(init), "card": earlier}


def write_model_card(
    config: TrainConfig,
    files: list[Path],
    validation: dict[str, float],
    wall_s: float,
    lr_schedule: list[list[float]],
    skipped_batches: int = 0,
) -> dict[str, Any]:
    from importlib.metadata import version

    card = {
        "architecture": config.arch,
        "N": config.N,
        "M": config.M,
        "lambda": config.lmbda,
        "steps": config.steps,
        "batch_size": config.batch_size,
        "patch": config.patch,
        "seed": config.seed,
        "lr_schedule": lr_schedule,
        "skipped_batches": skipped_batches,
        "wall_time_s": round(wall_s, 1),
        "device": config.device,
        "machine": platform.machine(),
        "torch": version("torch"),
        "compressai": version("compressai"),
        "training_data": {
            "folder": config.data.name,
            "images": len(files),
            "sha256": [_sha256(f) for f in files],
            "attribution": "see the README.md of the training folder for each image's source",
        },
        "validation": validation,
        "validation_data": (
            {
                "folder": config.val.name,
                "images": [p.name for p in image_files(config.val)],
                "sha256": [_sha256(p) for p in image_files(config.val)],
            }
            if config.val
            else None
        ),
        "weights_file": config.out.name,
        "weights_sha256": _sha256(config.out),
    }
    warm_start = _warm_start(config.init)
    card["warm_start"] = warm_start
    config.out.with_suffix(".json").write_text(json.dumps(card, indent=2))
    lines = [
        f"# {config.out.stem}",
        "",
        f"{config.arch} (N={config.N}, M={config.M}), lambda {config.lmbda}, "
        f"{config.steps} steps of {config.batch_size} x {config.patch}px crops, "
        f"{card['wall_time_s']} s on {config.device}.",
        "",
        f"Training data: {len(files)} images from `{config.data.name}` "
        "(sha256 list in the JSON card; attribution in the folder's README).",
        "",
    ]
    if validation:
        lines.append(
            f"Validation (real bitstreams): {validation['bpp']:.4f} bpp, "
            f"PSNR {validation['psnr_rgb']:.2f} dB, "
            f"MS-SSIM {validation['ms_ssim_rgb']:.4f} on "
            f"{int(validation['images'])} images."
        )
    if warm_start:
        lines += [
            "",
            f"Warm-started from `{warm_start['file']}` (sha256 `{warm_start['sha256']}`).",
        ]
    lines += ["", f"Weights: `{config.out.name}`, sha256 `{card['weights_sha256']}`."]
    config.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return card
