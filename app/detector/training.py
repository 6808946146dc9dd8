"""Training and evaluating the detector.

The loss per example: binary cross-entropy of the miscompression map against the changed
region (cells of ``model.SCALE`` pixels that touch it; every cell of a negative is 0), with
positive cells weighted up since they are few, plus the category and SYMBOL maps' loss on
the changed cells of positives only (what a change is, where there is one). A fixed seed
fixes the data, the initial weights and the order of batches.

Retraining on a study's labels (``app/detector/study_labels.py``) adds, per step, a batch of
the crops its raters labelled: a crop says only whether it holds a miscompression somewhere,
so its loss is on the map's peak (its crop score) against the label, and the category maps'
at that peak for positives, each crop weighted by its raters' agreement. Retraining starts
from the detector in use (``base``), so that what it learned from planted changes stays.

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
from app.detector.study_labels import StudyExample
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
    study_batch_size: int = 8


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


def study_loss(network: Any, examples: Sequence[StudyExample], device: str) -> Any:
    """The agreement-weighted loss of labelled crops: each crop's peak against its label,
    and the category and SYMBOL maps at that peak for positives. Crops of one size go
    through the network together."""
    import torch
    from torch.nn import functional

    by_size: dict[tuple[int, ...], list[StudyExample]] = {}
    for example in examples:
        by_size.setdefault(example.original.shape, []).append(example)
    total, weight = None, 0.0
    for group in by_size.values():
        inputs = np.stack([network_input(e.original, e.reconstruction) for e in group])
        flat = network(torch.from_numpy(inputs).to(device)).flatten(2)
        peak_at = flat[:, 0].argmax(dim=1)
        at_peak = flat.gather(2, peak_at[:, None, None].expand(-1, flat.shape[1], 1))[..., 0]
        targets = torch.tensor([e.label.targets for e in group], device=device)
        weights = torch.tensor([e.label.weight for e in group], device=device)
        where = functional.binary_cross_entropy_with_logits(
            at_peak[:, 0], targets[:, 0], reduction="none"
        )
        kind = functional.binary_cross_entropy_with_logits(
            at_peak[:, 1:], targets[:, 1:], reduction="none"
        ).mean(dim=1)
        part = ((where + 0.5 * kind * targets[:, 0]) * weights).sum()
        total = part if total is None else total + part
        weight += float(weights.sum())
    assert total is not None
    return total / max(weight, 1e-6)


def train(
    examples: Sequence[Example],
    settings: TrainSettings,
    progress: Callable[[int, int, float], None] | None = None,
    *,
    study: Sequence[StudyExample] = (),
    base: Detector | None = None,
) -> Any:
    """A trained network (in eval mode, on the CPU): on ``examples`` (planted changes) and
    ``study`` (labelled crops), either or both, starting from ``base`` where given."""
    import torch

    if not examples and not study:
        raise ValueError("there is nothing to train on")
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    network = build_network(WIDTHS)
    if base is not None:
        network.load_state_dict(base.network.state_dict())
    network = network.to(settings.device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=settings.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=settings.lr, total_steps=settings.steps
    )
    network.train()
    for step in range(settings.steps):
        loss: Any = torch.zeros((), device=settings.device)
        # Draws in the order training on planted changes alone always made them, so that a
        # model card's command still gives its weights.
        if examples:
            chosen = rng.choice(len(examples), size=settings.batch_size, replace=False)
            batch = [examples[int(i)] for i in chosen]
            mirrored = rng.random() < 0.5  # the same change, elsewhere
            loss = loss + loss_of(
                network, [_mirrored(e) for e in batch] if mirrored else batch, settings.device
            )
        else:
            mirrored = rng.random() < 0.5
        if study:
            size = min(settings.study_batch_size, len(study))
            labelled = [study[int(i)] for i in rng.choice(len(study), size=size, replace=False)]
            if mirrored:
                labelled = [_mirrored_crop(e) for e in labelled]
            loss = loss + study_loss(network, labelled, settings.device)
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


def _mirrored_crop(example: StudyExample) -> StudyExample:
    return StudyExample(
        example.item_id,
        example.image_id,
        np.ascontiguousarray(example.original[:, ::-1]),
        np.ascontiguousarray(example.reconstruction[:, ::-1]),
        example.label,
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


def auc(positive: NDArray[np.float64], negative: NDArray[np.float64]) -> float:
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
        "auc": round(auc(values[positive], values[~positive]), 4),
        "auc_against_plain_crops": round(auc(values[positive], values[plain]), 4),
        "auc_against_drawn_objects": round(auc(values[positive], values[~positive & ~plain]), 4),
        "precision_top_tenth": round(float(positive[top].mean()), 4),
        "peak_on_change": round(peaks_on_change / max(positives, 1), 4),
        "category_accuracy": round(category_hits / max(positives, 1), 4),
        "seconds_per_example": round((time.perf_counter() - started) / max(len(examples), 1), 4),
    }
