"""A study's labels as training examples for the detector, and the figures that say whether
retraining on them helped (precision at k on items it never trained on).

An item's targets, in ``plants.OUTPUTS`` order:
- adjudicated: the researcher's decision (weight 1; an "unsure" decision leaves the item out);
- otherwise the counted ratings' consensus (``app/domain/consensus.py``): 1 when most say
  miscompression, 0 when most say there is none, left out when neither; the categories and
  modifiers are the share of those who saw a miscompression that named each. The item
  weighs the raters' agreement on the verdict (the share of agreeing pairs), and a single
  rating ``SINGLE_RATING_WEIGHT``: an item raters disagree on teaches little either way.

The examples are the crops the raters saw (the study's own original and reconstruction
assets), so the detector learns from exactly what was labelled. Controls are left out: they
measure raters, not codecs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select

from app.detector.records import PRECISION_KS
from app.domain.consensus import MISCOMPRESSION, NO_MISCOMPRESSION, consensus
from app.domain.plants import OUTPUTS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.detector.model import Detector
    from app.storage import MediaStorage
    from app.studies.models import Study

RGB8 = NDArray[np.uint8]
SINGLE_RATING_WEIGHT = 0.5
HELD_OUT_EVERY = 5
MAX_EXAMPLES = 5000
"""Labelled crops read from one study at most (a seeded sample of them beyond): their pixels
are held in memory while training (5,000 crops of 256 pixels: about 2 GB)."""


@dataclass(frozen=True)
class ItemLabel:
    targets: tuple[float, ...]
    """In ``plants.OUTPUTS`` order."""
    weight: float
    by: str
    """"adjudicated" or "k of n raters"."""


@dataclass(frozen=True)
class StudyExample:
    item_id: int
    image_id: int
    original: RGB8
    reconstruction: RGB8
    label: ItemLabel


def _targets(miscompression: bool, named: dict[str, float]) -> tuple[float, ...]:
    if not miscompression:
        return (0.0,) * len(OUTPUTS)
    return (1.0, *(round(named.get(key, 0.0), 4) for key in OUTPUTS[1:]))


def item_labels(session: Session, study: Study) -> dict[int, ItemLabel]:
    """The training label of every crop item that has one (see the module's rules)."""
    from app.studies import queries
    from app.studies.models import Adjudication, StudyItem

    crop_items = set(
        session.scalars(
            select(StudyItem.id).where(StudyItem.study_id == study.id, StudyItem.kind == "crop")
        )
    )
    ratings: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for row in queries.counted_ratings(session, study.id):
        if row.item_id in crop_items:
            ratings[row.item_id].append((row.verdict, row.categories + row.modifiers))
    found: dict[int, ItemLabel] = {}
    for item_id, given in ratings.items():
        agreed = consensus(given)
        if not (agreed.miscompression or agreed.no_miscompression):
            continue
        saw = [set(labels) for verdict, labels in given if verdict == MISCOMPRESSION]
        named = {key: sum(key in s for s in saw) / len(saw) for key in OUTPUTS[1:]} if saw else {}
        weight = SINGLE_RATING_WEIGHT if agreed.agreement is None else agreed.agreement
        found[item_id] = ItemLabel(
            _targets(agreed.miscompression, named),
            round(weight, 4),
            f"{agreed.saying if agreed.miscompression else agreed.denying} of "
            f"{agreed.raters} raters",
        )
    for decision in session.scalars(select(Adjudication).where(Adjudication.study_id == study.id)):
        if decision.item_id not in crop_items:
            continue
        found.pop(decision.item_id, None)
        if decision.verdict in (MISCOMPRESSION, NO_MISCOMPRESSION):
            named = dict.fromkeys(decision.categories + decision.modifiers, 1.0)
            miscompression = decision.verdict == MISCOMPRESSION
            found[decision.item_id] = ItemLabel(_targets(miscompression, named), 1.0, "adjudicated")
    return found


def study_examples(
    session: Session, storage: MediaStorage, study: Study, *, limit: int = MAX_EXAMPLES
) -> list[StudyExample]:
    """The labelled crop items of ``study`` with the crops their raters saw, in item order:
    all of them, or a sample of ``limit`` seeded by the study."""
    from app.storage import load_rgb
    from app.studies.models import StudyAsset, StudyItem

    labels = item_labels(session, study)
    chosen = sorted(labels)
    if len(chosen) > limit:
        picked = np.random.default_rng(study.seed).choice(len(chosen), limit, replace=False)
        chosen = sorted(chosen[int(i)] for i in picked)
    if not chosen:
        return []
    items = session.scalars(
        select(StudyItem).where(StudyItem.id.in_(chosen)).order_by(StudyItem.id)
    ).all()
    tokens = [t for i in items for t in (i.assets.get("original"), i.assets.get("reconstruction"))]
    keys = dict(
        session.execute(
            select(StudyAsset.token, StudyAsset.storage_key).where(StudyAsset.token.in_(tokens))
        ).all()
    )
    examples = []
    for item in items:
        original = keys.get(item.assets.get("original", ""))
        reconstruction = keys.get(item.assets.get("reconstruction", ""))
        if original is None or reconstruction is None:
            continue  # an item whose crops were never rendered (an imported bundle's)
        examples.append(
            StudyExample(
                item.id,
                item.image_id,
                load_rgb(storage, original),
                load_rgb(storage, reconstruction),
                labels[item.id],
            )
        )
    return examples


def split(examples: Sequence[StudyExample]) -> tuple[list[StudyExample], list[StudyExample], str]:
    """Training and held-out examples, and how they were split: by image (every
    ``HELD_OUT_EVERY``-th image of the study, in id order, is held out, so that no crop of a
    held-out image is trained on) when the study has that many images; by item otherwise
    (every ``HELD_OUT_EVERY``-th item: crops of the same image may then overlap)."""
    images = sorted({e.image_id for e in examples})
    if len(images) >= HELD_OUT_EVERY:
        held = {i for n, i in enumerate(images) if n % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
        chosen = [e.image_id in held for e in examples]
        how = "images"
    else:
        chosen = [n % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 for n in range(len(examples))]
        how = "items"
    train = [e for e, c in zip(examples, chosen, strict=True) if not c]
    held_out = [e for e, c in zip(examples, chosen, strict=True) if c]
    return train, held_out, how


def crop_score(detector: Detector, example: StudyExample) -> float:
    """The crop's miscompression score: the peak of the detector's map over it."""
    return float(detector.score(example.original, example.reconstruction).miscompression.max())


def precision_at_k(
    scores: Sequence[float], positive: Sequence[bool], ks: Sequence[int] = PRECISION_KS
) -> dict[str, float]:
    """The share of positives among the ``k`` highest scores, for each ``k`` no larger than
    the number of items (ties broken by order, as a rater would be shown them)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return {
        str(k): round(sum(positive[i] for i in order[:k]) / k, 4) for k in ks if k <= len(scores)
    }


def ranking(detector: Detector, examples: Sequence[StudyExample]) -> dict[str, Any]:
    """How a detector ranks labelled crops: precision at k and AUC (None where undefined)."""
    from app.detector.training import auc

    positive = [e.label.targets[0] == 1.0 for e in examples]
    scores = [crop_score(detector, e) for e in examples]
    values, mask = np.array(scores), np.array(positive, dtype=bool)
    separated = auc(values[mask], values[~mask]) if len(values) else math.nan
    return {
        "precision_at_k": precision_at_k(scores, positive),
        "auc": None if math.isnan(separated) else round(separated, 4),
    }


def labelled_counts(examples: Sequence[StudyExample]) -> dict[str, Any]:
    """How many crops, how many of them miscompressions, and that share (what a random
    order's precision is)."""
    positives = sum(e.label.targets[0] == 1.0 for e in examples)
    return {
        "positives": positives,
        "base_rate": round(positives / len(examples), 4) if examples else None,
    }


def compare(before: Detector, after: Detector, held_out: Sequence[StudyExample]) -> dict[str, Any]:
    """How the two detectors rank the held-out items (``ranking``), with their counts."""
    return {
        "held_out_items": len(held_out),
        **labelled_counts(held_out),
        "before": ranking(before, held_out),
        "after": ranking(after, held_out),
    }
