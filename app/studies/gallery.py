"""A study's confirmed miscompressions as paper-ready figure panels.

Confirmed: an adjudicated miscompression, or, where no researcher decided, an item most of
whose counted ratings say miscompression. Its categories are the adjudicated ones, or those
named by at least half of the raters who saw a miscompression.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image
from app.domain import gallery
from app.domain.figures import FigureFormat
from app.domain.rd import curve_label
from app.storage import MediaStorage
from app.studies.models import Adjudication, Annotation, Study, StudyAsset, StudyItem


@dataclass(frozen=True)
class Confirmed:
    item: StudyItem
    labels: list[str]
    """Categories and modifiers, upper case as the paper writes them."""
    by: str
    """"adjudicated" or "k of n raters"."""


def confirmed(session: Session, study: Study) -> list[Confirmed]:
    decisions = {
        d.item_id: d
        for d in session.scalars(select(Adjudication).where(Adjudication.study_id == study.id))
    }
    ratings: dict[int, list[Annotation]] = defaultdict(list)
    for annotation in session.scalars(
        select(Annotation).where(Annotation.study_id == study.id, Annotation.late.is_(False))
    ):
        ratings[annotation.item_id].append(annotation)
    items = session.scalars(
        select(StudyItem)
        .where(StudyItem.study_id == study.id, StudyItem.kind == "crop")
        .order_by(StudyItem.position)
    )
    found = []
    for item in items:
        decision = decisions.get(item.id)
        if decision is not None:
            if decision.verdict == "miscompression":
                labels = decision.categories + decision.modifiers
                found.append(Confirmed(item, [x.upper() for x in labels], "adjudicated"))
            continue
        given = ratings.get(item.id, [])
        saying = [a for a in given if a.verdict == "miscompression"]
        if given and len(saying) * 2 > len(given):
            named = Counter(x for a in saying for x in a.categories + a.modifiers)
            labels = sorted(x for x, n in named.items() if n * 2 >= len(saying))
            found.append(
                Confirmed(
                    item, [x.upper() for x in labels], f"{len(saying)} of {len(given)} raters"
                )
            )
    return found


def _pixels(session: Session, storage: MediaStorage, token: str) -> np.ndarray:  # type: ignore[type-arg]
    asset = session.get(StudyAsset, token)
    assert asset is not None
    with PILImage.open(io.BytesIO(storage.read(asset.storage_key))) as image:
        return np.asarray(image.convert("RGB"))


def panel(
    session: Session,
    storage: MediaStorage,
    study: Study,
    entry: Confirmed,
    fmt: FigureFormat,
) -> bytes:
    """Original | reconstruction | JPEG at the same bpp, captioned as in the paper."""
    item = entry.item
    result = session.get(CodecResult, item.result_id) if item.result_id else None
    run = session.get(CodecRun, result.run_id) if result else None
    image = session.get(Image, item.image_id)
    assert result is not None
    assert run is not None
    assert image is not None
    crop = (item.size, item.share_percent)
    panes = [
        gallery.Pane(
            "original",
            f"original {image.width}x{image.height}, cropped scene {crop[0]}x{crop[0]} "
            f"({crop[1]:.2f} %)",
            _pixels(session, storage, item.assets["original"]),
        ),
        gallery.Pane(
            curve_label(run.codec, run.params),
            gallery.compressed_caption(result.bpp or 0.0, image.width, image.height, *crop),
            _pixels(session, storage, item.assets["reconstruction"]),
        ),
    ]
    if "jpeg" in item.assets and result.jpeg_bpp is not None:
        panes.append(
            gallery.Pane(
                f"JPEG quality {result.jpeg_quality}",
                gallery.compressed_caption(result.jpeg_bpp, image.width, image.height, *crop),
                _pixels(session, storage, item.assets["jpeg"]),
            )
        )
    labels = " + ".join(entry.labels) or "miscompression"
    return gallery.panel(panes, title=f"{labels} ({entry.by})", fmt=fmt)
