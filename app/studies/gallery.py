"""A study's confirmed miscompressions as paper-ready figure panels.

Confirmed: an adjudicated miscompression, or, where no researcher decided, an item most of
whose counted ratings say miscompression. Its categories are the adjudicated ones, or those
named by at least half of the raters who saw a miscompression.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image
from app.domain import gallery
from app.domain.consensus import consensus
from app.domain.figures import FigureFormat
from app.domain.rd import curve_label
from app.paging import Pager, paginate
from app.storage import MediaStorage, load_rgb
from app.studies import queries
from app.studies.models import Adjudication, Study, StudyAsset, StudyItem
from app.studies.queries import CountedRating
from app.studies.report_cache import current_report

REPORT_KEY = "confirmed_by_raters"
"""Where the study's cached report keeps ``rater_confirmed`` (``report_entry``)."""


@dataclass(frozen=True)
class Confirmed:
    item: StudyItem
    labels: list[str]
    """Categories and modifiers, upper case as the paper writes them."""
    by: str
    """"adjudicated" or "k of n raters"."""


def rater_confirmed(
    session: Session,
    study: Study,
    *,
    item_id: int | None = None,
    rows: list[CountedRating] | None = None,
) -> dict[int, tuple[list[str], str]]:
    """Items most of whose counted ratings say miscompression: item -> (labels named by at
    least half of those raters, "k of n raters"). From the counted ratings (``rows``: already
    read); the workers keep it in the study's report."""
    if rows is None:
        rows = queries.counted_ratings(
            session, study.id, item_ids=None if item_id is None else [item_id]
        )
    ratings: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for row in rows:
        ratings[row.item_id].append((row.verdict, row.categories + row.modifiers))
    found = {}
    for candidate, given in ratings.items():
        agreed = consensus(given)
        if agreed.miscompression:
            labels = [x.upper() for x in agreed.labels]
            found[candidate] = (labels, f"{agreed.saying} of {agreed.raters} raters")
    return found


def report_entry(
    session: Session, study: Study, rows: list[CountedRating]
) -> list[tuple[int, list[str], str]]:
    """``rater_confirmed`` as the worker stores it in the study's report (JSON rows)."""
    return [
        (i, labels, by) for i, (labels, by) in rater_confirmed(session, study, rows=rows).items()
    ]


def _current_rater_confirmed(
    session: Session, study: Study, item_id: int | None
) -> dict[int, tuple[list[str], str]]:
    """``rater_confirmed`` of the labels as they are now: from the study's report when it is
    of these labels, read from the annotations otherwise."""
    report = current_report(session, study)
    if report and REPORT_KEY in report:
        return {i: (labels, by) for i, labels, by in report[REPORT_KEY]}
    return rater_confirmed(session, study, item_id=item_id)


def confirmed(
    session: Session,
    study: Study,
    *,
    page: int = 1,
    page_size: int | None = None,
    item_id: int | None = None,
) -> tuple[Pager, list[Confirmed]]:
    """The confirmed miscompressions in item order: one page of them (all without
    ``page_size``; ``item_id``: just that one). A researcher's decision overrides the raters.
    """
    found = _current_rater_confirmed(session, study, item_id)
    for decision in session.scalars(select(Adjudication).where(Adjudication.study_id == study.id)):
        found.pop(decision.item_id, None)
        if decision.verdict == "miscompression":
            labels = decision.categories + decision.modifiers
            found[decision.item_id] = ([x.upper() for x in labels], "adjudicated")
    if item_id is not None:
        found = {item_id: found[item_id]} if item_id in found else {}
    positions = dict(
        session.execute(
            select(StudyItem.id, StudyItem.position).where(StudyItem.study_id == study.id)
        ).all()
    )
    pager = paginate(len(found), page, page_size or max(1, len(found)))
    ordered = sorted(found, key=lambda i: positions.get(i, 0))
    shown = ordered[pager.offset : pager.offset + pager.size]
    items = {i.id: i for i in session.scalars(select(StudyItem).where(StudyItem.id.in_(shown)))}
    return pager, [Confirmed(items[i], *found[i]) for i in shown if i in items]


def _pixels(session: Session, storage: MediaStorage, token: str) -> np.ndarray:  # type: ignore[type-arg]
    asset = session.get(StudyAsset, token)
    assert asset is not None
    return load_rgb(storage, asset.storage_key)


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
