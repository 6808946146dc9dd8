"""Active learning: does retraining the detector on a study's labels find more of what the
raters found, on scenes neither it nor the study ever showed?

The study: for each training photograph (the four in five the shipped detector trained on,
``app/detector/data.split``), a window with one change of meaning of the hard families of
``detector_bench`` (a character of a page or plate re-drawn as another in a held-out font;
a lamp or shape in the most textured part, out, gone or moved), coded by the shipped neural
codec or by JPEG (alternately). Raters see crops of 64 px: three that cover the change (a
detector-guided study shows many) and nine random ones elsewhere. Three simulated raters
label each, each right with probability ``--rater-accuracy``; an item's label and weight are
the platform's rule (``app/domain/consensus.py``: the majority, weighted by the share of
agreeing pairs), as ``study_labels.item_labels`` gives them.

The retraining is the results page's: ``training.train`` on the labelled crops alone, from the
shipped detector, ``--steps`` steps at ``retraining.RETRAIN_LR``. Both detectors then rank the
crops of the photographs held out of everything (the fifth), labelled by the truth: precision
at 5, 10 and 20 and the AUC, with the paired difference of the AUC and a bootstrap 95 %
interval over the held-out windows.

    .venv/bin/python bench/active_learning_bench.py [--photos ../shared/datasets/wikipedia-photos]
        [--steps 300] [--windows 2] [--rater-accuracy 0.85]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402

from app.detector import data, model, retraining, study_labels, training  # noqa: E402
from app.detector.study_labels import ItemLabel, StudyExample  # noqa: E402
from app.domain import crops  # noqa: E402
from app.domain.codecs import registry  # noqa: E402
from app.domain.codecs.base import Codec  # noqa: E402
from app.domain.consensus import MISCOMPRESSION, NO_MISCOMPRESSION, consensus  # noqa: E402
from bench.detector_bench import (  # noqa: E402
    SIZE,
    _fonts,
    _mask,
    _window,
    finds,
    page_case,
    texture_case,
)

COVERING = 3
ELSEWHERE = 9
RATERS = 3
KS = (5, 10, 20)


def _bars(draw: ImageDraw.ImageDraw, x: int, y: int, w: int, h: int, count: int) -> None:
    """A light panel with ``count`` dark bars spread evenly across it (a fence, a barcode, a
    row of windows)."""
    draw.rectangle((x, y, x + w, y + h), fill=(225, 222, 210))
    pitch = w / count
    for n in range(count):
        left = x + int(n * pitch + pitch * 0.3)
        draw.rectangle((left, y + 3, left + max(2, int(pitch * 0.4)), y + h - 3), fill=(40, 40, 48))


def stripes_case(
    photo: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, crops.Box]:
    """Two panels of bars: in one the reconstruction has one bar more or fewer over the same
    width (GEOMETRY: a count that changed); the other, the decoy, is unchanged. A kind of
    change the shipped detector never saw planted. Returns before, after and a crop on the
    decoy."""
    height, width = photo.shape[:2]
    w, h = int(rng.integers(36, 56)), int(rng.integers(24, 44))
    count = int(rng.integers(4, 8))
    fewer_or_more = count + int(rng.choice([-1, 1]))
    (cx, cy), (dx, dy) = _two_places(width, height, w, h, rng)
    before, after = Image.fromarray(photo), Image.fromarray(photo)
    for image, bars in ((before, count), (after, fewer_or_more)):
        draw = ImageDraw.Draw(image)
        _bars(draw, cx, cy, w, h, bars)
        _bars(draw, dx, dy, w, h, count + 1)
    decoy = crops.Box(
        int(np.clip(dx + w // 2 - SIZE // 2, 0, width - SIZE)),
        int(np.clip(dy + h // 2 - SIZE // 2, 0, height - SIZE)),
        SIZE,
    )
    return np.asarray(before, dtype=np.uint8), np.asarray(after, dtype=np.uint8), decoy


def _two_places(
    width: int, height: int, w: int, h: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Top-left corners for two w x h things, one in each half of the image, in either order."""
    left = (int(rng.integers(4, width // 2 - w - 4)), int(rng.integers(4, height - h - 4)))
    right = (int(rng.integers(width // 2 + 4, width - w - 4)), int(rng.integers(4, height - h - 4)))
    return [left, right] if rng.random() < 0.5 else [right, left]


def faint_case(
    photo: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, crops.Box]:
    """Two lamps: one a little dimmer in the reconstruction (to 85-93 % of its brightness:
    AMPLITUDE, about as strong as the codec's own error), the other, the decoy, unchanged."""
    height, width = photo.shape[:2]
    side = int(rng.integers(8, 15))
    colour = [(255, 40, 30), (255, 190, 40), (60, 255, 90), (240, 240, 255)][int(rng.integers(4))]
    (cx, cy), (dx, dy) = _two_places(width, height, side, side, rng)
    factor = rng.uniform(0.85, 0.93)
    dim = tuple(int(c * factor) for c in colour)
    before, after = Image.fromarray(photo), Image.fromarray(photo)
    for image, lamp in ((before, colour), (after, dim)):
        draw = ImageDraw.Draw(image)
        draw.ellipse((cx, cy, cx + side, cy + side), fill=lamp)
        draw.ellipse((dx, dy, dx + side, dy + side), fill=colour)
    decoy = crops.Box(
        int(np.clip(dx + side // 2 - SIZE // 2, 0, width - SIZE)),
        int(np.clip(dy + side // 2 - SIZE // 2, 0, height - SIZE)),
        SIZE,
    )
    return np.asarray(before, dtype=np.uint8), np.asarray(after, dtype=np.uint8), decoy


def _covering_boxes(mask: np.ndarray, count: int, rng: np.random.Generator) -> list[crops.Box]:
    """Crops that cover at least half of the changed pixels, placed at random around it."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    found: list[crops.Box] = []
    for _ in range(200):
        if len(found) == count:
            break
        cx, cy = int(xs.mean()), int(ys.mean())
        x = int(np.clip(cx - int(rng.integers(8, SIZE - 8)), 0, width - SIZE))
        y = int(np.clip(cy - int(rng.integers(8, SIZE - 8)), 0, height - SIZE))
        box = crops.Box(x, y, SIZE)
        if finds(box, mask):
            found.append(box)
    return found


def _elsewhere(mask: np.ndarray, count: int, rng: np.random.Generator) -> list[crops.Box]:
    height, width = mask.shape
    found: list[crops.Box] = []
    while len(found) < count:
        box = crops.Box(
            int(rng.integers(0, width - SIZE)), int(rng.integers(0, height - SIZE)), SIZE
        )
        if not mask[box.y : box.y + SIZE, box.x : box.x + SIZE].any():
            found.append(box)
    return found


def _rated(truth: bool, accuracy: float, rng: np.random.Generator) -> ItemLabel | None:
    """The platform's label of an item three simulated raters judged (None: no majority)."""
    said = [truth if rng.random() < accuracy else not truth for _ in range(RATERS)]
    agreed = consensus([(MISCOMPRESSION if s else NO_MISCOMPRESSION, ()) for s in said])
    if not (agreed.miscompression or agreed.no_miscompression):
        return None
    targets = (1.0, 0.0, 0.0, 0.0, 0.0) if agreed.miscompression else (0.0,) * 5
    return ItemLabel(targets, agreed.agreement or study_labels.SINGLE_RATING_WEIGHT, "raters")


def build(
    photos: list[np.ndarray],
    windows: int,
    rng: np.random.Generator,
    fonts: list[str],
    codecs: list[Codec],
    accuracy: float | None,
    group: int,
    family: str,
) -> list[StudyExample]:
    """The crops of ``windows`` changed windows per photograph, labelled by simulated raters
    (``accuracy``) or by the truth (None). ``image_id`` numbers the windows."""
    examples = []
    for photo in photos:
        for _ in range(windows):
            window = _window(photo, rng)
            decoys: list[crops.Box] = []
            if family in ("stripes", "faint"):
                case = stripes_case if family == "stripes" else faint_case
                before, after, decoy = case(window, rng)
                decoys = [decoy]
            elif group % 2 == 0:
                before, after = page_case(window, rng, fonts)
            else:
                before, after = texture_case(window, rng)
            mask = _mask(before, after)
            if not mask.any():
                continue
            codec = codecs[group % len(codecs)]
            reconstruction = codec.encode_decode(after, seed=0).reconstruction
            boxes = [(b, True) for b in _covering_boxes(mask, COVERING, rng)]
            boxes += [(b, False) for b in decoys * COVERING]
            boxes += [(b, False) for b in _elsewhere(mask, ELSEWHERE - len(decoys) * COVERING, rng)]
            for box, truth in boxes:
                if accuracy is None:
                    label: ItemLabel | None = ItemLabel(
                        (1.0 if truth else 0.0, 0.0, 0.0, 0.0, 0.0), 1.0, "truth"
                    )
                else:
                    label = _rated(truth, accuracy, rng)
                if label is None:
                    continue
                window_of = (slice(box.y, box.y + SIZE), slice(box.x, box.x + SIZE))
                examples.append(
                    StudyExample(
                        len(examples),
                        group,
                        np.ascontiguousarray(before[window_of]),
                        np.ascontiguousarray(reconstruction[window_of]),
                        label,
                    )
                )
            group += 1
    return examples


def _auc_by_window(
    detector: model.Detector, examples: list[StudyExample]
) -> dict[int, tuple[list[float], list[bool]]]:
    by_window: dict[int, tuple[list[float], list[bool]]] = {}
    for e in examples:
        scores, truth = by_window.setdefault(e.image_id, ([], []))
        scores.append(study_labels.crop_score(detector, e))
        truth.append(e.label.targets[0] == 1.0)
    return by_window


def _pooled_auc(by_window: dict[int, tuple[list[float], list[bool]]], windows: list[int]) -> float:
    scores = np.array([s for w in windows for s in by_window[w][0]])
    truth = np.array([t for w in windows for t in by_window[w][1]])
    return training.auc(scores[truth], scores[~truth])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/datasets/wikipedia-photos"))
    parser.add_argument("--windows", type=int, default=2, help="changed windows per photograph")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rater-accuracy", type=float, default=0.85)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--family",
        choices=("faint", "stripes", "hard"),
        default="stripes",
        help="faint: lamps a little dimmer, beside unchanged ones; stripes: bar counts that "
        "change, beside unchanged ones (kinds the detector never saw planted); hard: "
        "detector_bench's pages and textures (kinds it was trained on)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    fonts = _fonts()
    photos = data.photographs(args.photos)
    train_part, held = data.split([name for name, _ in photos])
    codecs = [
        registry.build("jpeg", quality=25),
        registry.build("miscomp-mbt-low", device="cpu", check_decode=False),
    ]
    rng = np.random.default_rng(args.seed)
    study = build([photos[i][1] for i in train_part], args.windows, rng, fonts, codecs,
                  args.rater_accuracy, 0, args.family)  # fmt: skip
    unseen = build([photos[i][1] for i in held], args.windows, rng, fonts, codecs, None, 10_000,
                   args.family)  # fmt: skip
    print(f"study: {len(study)} labelled crops ({sum(e.label.targets[0] for e in study):.0f} "
          f"miscompressions) from {len(train_part)} photographs; held out: {len(unseen)} crops "
          f"from {len(held)} photographs ({time.perf_counter() - started:.0f} s)")  # fmt: skip
    before = model.Detector(model.shipped_weights())
    network = training.train(
        [],
        training.TrainSettings(steps=args.steps, lr=retraining.RETRAIN_LR, seed=args.seed),
        study=study,
        base=before,
    )
    path = Path("var") / "active-learning-bench.pt"
    training.save(network, path, {"name": "active-learning-bench"})
    after = model.Detector(path)
    print(f"retrained {args.steps} steps ({time.perf_counter() - started:.0f} s)")
    print(f"{'':24}{'before':>10}{'after':>10}")
    base_rate = np.mean([e.label.targets[0] for e in unseen])
    print(f"{'base rate':24}{base_rate:>10.3f}")
    rankings = {
        name: study_labels.ranking(d, unseen) for name, d in (("before", before), ("after", after))
    }
    for k in KS:
        shown = [
            rankings[n]["precision_at_k"].get(str(k), float("nan")) for n in ("before", "after")
        ]
        print(f"{'precision at ' + str(k):24}{shown[0]:>10.3f}{shown[1]:>10.3f}")
    print(f"{'AUC':24}{rankings['before']['auc']:>10.3f}{rankings['after']['auc']:>10.3f}")
    by_before, by_after = _auc_by_window(before, unseen), _auc_by_window(after, unseen)
    windows = sorted(by_before)
    differences = []
    for _ in range(2000):
        drawn = [windows[int(i)] for i in rng.integers(0, len(windows), len(windows))]
        differences.append(_pooled_auc(by_after, drawn) - _pooled_auc(by_before, drawn))
    point = _pooled_auc(by_after, windows) - _pooled_auc(by_before, windows)
    low, high = np.nanpercentile(differences, [2.5, 97.5])
    seconds = time.perf_counter() - started
    print(f"AUC after - before: {point:+.3f} [{low:+.3f}, {high:+.3f}] (bootstrap over "
          f"{len(windows)} held-out windows); {seconds:.0f} s in all")  # fmt: skip


if __name__ == "__main__":
    main()
