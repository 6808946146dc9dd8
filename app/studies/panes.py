"""What the workspace's viewer draws for one lease: the panes under the labels the rater may
see, their wider context, the thumbnail with the crop's place, the maps it may overlay, and
the next item's images to fetch ahead. Blinding holds here: nothing names a codec."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.datasets.models import Image
from app.domain import crops, metrics
from app.domain import panes as pane_names
from app.studies import assignment
from app.studies.models import Study, StudyItem
from app.users.models import User


def asset_url(token: str) -> str:
    return f"/media/assets/{token}.png"


def viewer_data(
    session: Session,
    study: Study,
    item: StudyItem,
    pane_map: dict[str, str],
    *,
    reveal: bool = False,
) -> dict[str, Any]:
    """Everything the viewer draws, by the labels in ``pane_map`` (label -> pane; a rater's
    lease says which they may see): pane images, the wider context of each, the thumbnail
    with the crop's place, and the maps it may overlay. ``reveal``: the codec, bpp and
    quality under each pane and the run's maps even in a blind study (researchers)."""
    unblinded = reveal or not study.blind
    captions = unblinded_captions(session, item) if unblinded else {}
    shown = [(label, pane) for label, pane in pane_map.items() if pane in item.assets]
    panes = [
        {
            "label": label,
            "role": "compared" if pane in pane_names.COMPARED else pane,
            "url": asset_url(item.assets[pane]),
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
                "urls": {label: asset_url(token) for label, token in wider.items() if token},
            }
        )
    # The run's SSIM and CIEDE2000 maps exist for the reconstruction only: overlaying them
    # on one pane would tell a blind rater which pane that is.
    maps = {}
    if unblinded:
        for name in ("ssim_map", "ciede2000_map"):
            if name in item.assets:
                maps[name] = asset_url(item.assets[name])
    thumbnail = None
    if "thumbnail" in item.assets:
        thumbnail = {
            "url": asset_url(item.assets["thumbnail"]),
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


def prefetch_urls(session: Session, study: Study, user: User) -> list[str]:
    """The images of the rater's next item, leased ahead so that the browser has them in
    its cache when the rater submits this one."""
    ahead = assignment.lease_ahead(session, study, user)
    if ahead is None:
        return []
    item = session.get(StudyItem, ahead.item_id)
    assert item is not None
    wanted = [*ahead.pane_map.values(), "thumbnail"]
    return [asset_url(item.assets[pane]) for pane in wanted if pane in item.assets]


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
