"""Training and evaluating the detector.

The loss per example: binary cross-entropy of the miscompression map against the changed
region (cells of ``model.SCALE`` pixels that touch it; every cell of a negative is 0), with
positive cells weighted up since they are few, plus the category and SYMBOL maps' loss on
the changed cells of positives only (what a change is, where there is one). A fixed seed
fixes the data, the initial weights and the order of batches.

The saved file holds the weights (float16: half the size) and the model card (data, seed,
codecs, figures), as the shipped codec's does.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.detector.data import Example
from app.detector.model import SCALE, WIDTHS, Detector, build_network, network_input
from app.domain.plants import OUTPUTS

POSITIVE_WEIGHT = 8.0


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 1500
    batch_size: int = 24
    lr: float = 2e-3
    seed: int = 0
    device: str = "cpu"
    threads: int = 2


def _batch(examples: Sequence[Example]) -> tuple[Any, Any, Any]:
    import torch

    inputs = np.stack([network_input(e.original, e.reconstruction) for e in examples])
    size = examples[0].original.shape[0]
    cells = size // SCALE
    masks = np.stack([e.mask[: cells * SCALE, : cells * SCALE] for e in examples])
    # A cell is changed when any of its pixels is.
    changed = masks.reshape(len(examples), cells, SCALE, cells, SCALE).any(axis=(2, 4))
    targets = np.array([e.targets for e in examples], dtype=np.float32)
    return (
        torch.from_numpy(inputs),
        torch.from_numpy(changed.astype(np.float32)),
        torch.from_numpy(targets),
    )


def loss_of(network: Any, examples: Sequence[Example], device: str) -> Any:
    import torch
    from torch.nn import functional

    inputs, changed, targets = (t.to(device) for t in _batch(examples))
    logits = network(inputs)
    where = functional.binary_cross_entropy_with_logits(
        logits[:, 0],
        changed,
        pos_weight=torch.tensor(POSITIVE_WEIGHT, device=device),
    )
    what = logits[:, 1:].permute(0, 2, 3, 1)[changed > 0]
    labels = targets[:, None, None, 1:].expand(-1, *changed.shape[1:], -1)[changed > 0]
    kind = (
        functional.binary_cross_entropy_with_logits(what, labels)
        if len(what)
        else logits.sum() * 0.0
    )
    return where + 0.5 * kind


def train(
    examples: Sequence[Example],
    settings: TrainSettings,
    progress: Callable[[int, int, float], None] | None = None,
) -> Any:
    """A trained network (in eval mode, on the CPU)."""
    import torch

    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    network = build_network(WIDTHS).to(settings.device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=settings.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=settings.lr, total_steps=settings.steps
    )
    network.train()
    for step in range(settings.steps):
        chosen = rng.choice(len(examples), size=settings.batch_size, replace=False)
        batch = [examples[int(i)] for i in chosen]
        if rng.random() < 0.5:  # mirrored: the same change, elsewhere
            batch = [_mirrored(e) for e in batch]
        loss = loss_of(network, batch, settings.device)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, settings.steps, float(loss.detach()))
    return network.eval().cpu()


def _mirrored(example: Example) -> Example:
    return Example(
        np.ascontiguousarray(example.original[:, ::-1]),
        np.ascontiguousarray(example.reconstruction[:, ::-1]),
        np.ascontiguousarray(example.mask[:, ::-1]),
        example.targets,
        example.kind,
        example.codec,
    )


def save(network: Any, path: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Weights (float16) and the model card in one file; returns the card as saved."""
    import torch

    state = {k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}
    card = {**card, "widths": list(WIDTHS), "outputs": list(OUTPUTS), "scale": SCALE}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": state, "card": json.dumps(card, sort_keys=True)}, path)
    return card


def environment() -> dict[str, str]:
    import torch

    return {"torch": torch.__version__, "python": platform.python_version()}


def _auc(positive: NDArray[np.float64], negative: NDArray[np.float64]) -> float:
    """The chance that a positive scores above a negative (ties count half)."""
    if not len(positive) or not len(negative):
        return float("nan")
    above = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(above + 0.5 * ties)


def evaluate(detector: Detector, examples: Sequence[Example]) -> dict[str, Any]:
    """Figures on held-out examples: how well a crop's score tells changed crops from
    unchanged ones (AUC, overall and per kind of negative), precision among the top tenth,
    whether the map's peak lies on the change, and the category accuracy on positives."""
    started = time.perf_counter()
    scores, peaks_on_change, category_hits = [], 0, 0
    for example in examples:
        maps = detector.score(example.original, example.reconstruction)
        scores.append(float(maps.miscompression.max()))
        if example.targets[0]:
            row, column = np.unravel_index(int(np.argmax(maps.miscompression)), maps.maps.shape[1:])
            window = example.mask[
                row * SCALE : (row + 1) * SCALE, column * SCALE : (column + 1) * SCALE
            ]
            peaks_on_change += bool(window.any())
            said = maps.maps[1:4, row, column]
            category_hits += example.targets[1 + int(np.argmax(said))] == 1.0
    values = np.array(scores)
    positive = np.array([bool(e.targets[0]) for e in examples])
    plain = np.array([e.kind == "none" for e in examples])
    top = np.argsort(-values)[: max(1, len(values) // 10)]
    positives = int(positive.sum())
    return {
        "examples": len(examples),
        "auc": round(_auc(values[positive], values[~positive]), 4),
        "auc_against_plain_crops": round(_auc(values[positive], values[plain]), 4),
        "auc_against_drawn_objects": round(_auc(values[positive], values[~positive & ~plain]), 4),
        "precision_top_tenth": round(float(positive[top].mean()), 4),
        "peak_on_change": round(peaks_on_change / max(positives, 1), 4),
        "category_accuracy": round(category_hits / max(positives, 1), 4),
        "seconds_per_example": round((time.perf_counter() - started) / max(len(examples), 1), 4),
    }
