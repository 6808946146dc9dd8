"""What the workspace's viewer draws for one lease: the panes under the labels the rater may
see, their wider context, the thumbnail with the crop's place, the maps it may overlay, and
the next item's images to fetch ahead. Blinding holds here: nothing names a codec."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from app import signed_media
from app.datasets.models import Image
from app.domain import crops, metrics
from app.domain import panes as pane_names
from app.studies.models import Assignment, Study, StudyAsset, StudyItem

UrlOf = Callable[[str], str]
"""An image's URL from its token."""


def asset_url(token: str) -> str:
    """An image under its token: each request is checked against the database (who may see
    it), for researchers' pages and API clients."""
    return f"/media/assets/{token}.png"


def signed_url(link: str) -> str:
    return f"/media/signed/{link}.png"


@cache
def _storage_keys() -> Select[str, str]:
    """Built once: building it cost more than running it, for every page."""
    return select(StudyAsset.token, StudyAsset.storage_key).where(
        StudyAsset.token.in_(bindparam("tokens", expanding=True))
    )


def session_links(
    session: Session, items: Iterable[StudyItem], *, secret_key: str, session_id: str | None
) -> UrlOf:
    """URLs for the images of ``items``, signed for one browser session (``signed_media``):
    the page that names them has checked the rater's right to them, so serving them needs
    no database. One statement for all of them. Without a browser session (an API token),
    the URLs under tokens."""
    if session_id is None:
        return asset_url
    tokens = [token for item in items for token in item.assets.values()]
    found = session.execute(_storage_keys(), {"tokens": tokens})
    keys = {row.token: row.storage_key for row in found}

    def url_of(token: str) -> str:
        key = keys.get(token)
        if key is None:
            return asset_url(token)  # a dangling token: its route answers "no such image"
        return signed_url(signed_media.sign(secret_key, key, session_id))

    return url_of


def viewer_data(
    session: Session,
    study: Study,
    item: StudyItem,
    pane_map: dict[str, str],
    *,
    reveal: bool = False,
    url_of: UrlOf = asset_url,
) -> dict[str, Any]:
    """Everything the viewer draws, by the labels in ``pane_map`` (label -> pane; a rater's
    lease says which they may see): pane images, the wider context of each, the thumbnail
    with the crop's place, and the maps it may overlay. ``reveal``: the codec, bpp and
    quality under each pane and the run's maps even in a blind study (researchers);
    ``url_of``: how images are named (``session_links`` in the workspace)."""
    unblinded = reveal or not study.blind
    captions = unblinded_captions(session, item) if unblinded else {}
    shown = [(label, pane) for label, pane in pane_map.items() if pane in item.assets]
    panes = [
        {
            "label": label,
            "role": "compared" if pane in pane_names.COMPARED else pane,
            "url": url_of(item.assets[pane]),
            "caption": captions.get(pane, ""),
        }
        for label, pane in shown
    ]
    image = session.get(Image, item.image_id)
    assert image is not None
    box = crops.Box(item.x, item.y, item.size)
    contexts = []
    for factor in crops.CONTEXT_FACTORS:
        window = crops.context_window(box, factor, image.width, image.height)
        wider = {
            label: item.assets.get(f"context{factor}:{pane}")
            for label, pane in shown
            if pane != "difference"
        }
        if window is None or not all(wider.values()):
            continue  # items proposed before context was rendered, or crops near full size
        contexts.append(
            {
                "factor": factor,
                "side": window.size,
                "crop_x": item.x - window.x,
                "crop_y": item.y - window.y,
                "urls": {label: url_of(token) for label, token in wider.items() if token},
            }
        )
    # The run's SSIM and CIEDE2000 maps exist for the reconstruction only: overlaying them
    # on one pane would tell a blind rater which pane that is.
    maps = {}
    if unblinded:
        for name in ("ssim_map", "ciede2000_map"):
            if name in item.assets:
                maps[name] = url_of(item.assets[name])
    thumbnail = None
    if "thumbnail" in item.assets:
        thumbnail = {
            "url": url_of(item.assets["thumbnail"]),
            "left": 100 * item.x / image.width,
            "top": 100 * item.y / image.height,
            "width": 100 * item.size / image.width,
            "height": 100 * item.size / image.height,
        }
    return {
        "size": item.size,
        "panes": panes,
        "contexts": contexts,
        "maps": maps,
        "thumbnail": thumbnail,
        "difference_gain": metrics.DIFFERENCE_GAIN,
    }


def prefetch_urls(ahead: Assignment, item: StudyItem, url_of: UrlOf) -> list[str]:
    """The images of the rater's next item (``ahead``, leased ahead, on ``item``), in the
    order of their labels, for the browser to have in its cache when the rater submits the
    current one."""
    wanted = [*ahead.pane_map.values(), "thumbnail"]
    return [url_of(item.assets[pane]) for pane in wanted if pane in item.assets]


def unblinded_captions(session: Session, item: StudyItem) -> dict[str, str]:
    """What an unblinded study tells its annotators under each pane: codec, bpp, quality."""
    from app.codec_runs.models import CodecResult, CodecRun
    from app.domain.rd import curve_label

    result = session.get(CodecResult, item.result_id) if item.result_id else None
    run = session.get(CodecRun, result.run_id) if result else None
    if result is None or run is None or item.kind != "crop" or result.bpp is None:
        return {}
    captions = {"reconstruction": f"{curve_label(run.codec, run.params)}, {result.bpp:.3f} bpp"}
    if result.jpeg_bpp is not None:
        captions["jpeg"] = f"JPEG quality {result.jpeg_quality}, {result.jpeg_bpp:.3f} bpp"
    versus_id = item.evidence.get("versus_result_id")
    versus = session.get(CodecResult, versus_id) if isinstance(versus_id, int) else None
    versus_run = session.get(CodecRun, versus.run_id) if versus else None
    if versus is not None and versus_run is not None and versus.bpp is not None:
        captions["versus"] = (
            f"{curve_label(versus_run.codec, versus_run.params)}, {versus.bpp:.3f} bpp"
        )
    return captions
