"""`miscomp audit`: where a reconstruction is most likely miscompressed.

For one pair (original, reconstruction): the regions the detector scores highest (crops of
one side, overlapping ones suppressed), each with its category scores; the words OCR reads
differently; the usual metrics; and the detector's score map and the amplified difference
image. As a report to print, JSON, or a self-contained HTML page (``audit_html``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from sqlalchemy import select

from app.config import PROJECT_ROOT
from app.detector.model import SCALE, Detector, ScoreMaps
from app.detector.standalone import viewer_script
from app.detector.viewer import viewer_data
from app.domain import crops, metrics, png
from app.domain.plants import OUTPUTS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.storage import MediaStorage

RGB8 = NDArray[np.uint8]
STRIDE = 8


@dataclass(frozen=True)
class Region:
    box: crops.Box
    scores: dict[str, float]
    share_percent: float

    def as_json(self) -> dict[str, Any]:
        box = self.box
        return {
            "x": box.x,
            "y": box.y,
            "size": box.size,
            "share_percent": round(self.share_percent, 3),
            "scores": self.scores,
        }


@dataclass
class Audit:
    width: int
    height: int
    regions: list[Region]
    text_changes: list[dict[str, Any]]
    ocr: str
    metrics: dict[str, Any]
    detector: dict[str, Any]
    score_map: RGB8 = field(repr=False)
    difference: RGB8 = field(repr=False)
    bpp: float | None = None

    @property
    def risk(self) -> float:
        """The pair's risk: its highest region's miscompression score."""
        return self.regions[0].scores["miscompression"] if self.regions else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "bpp": self.bpp,
            "risk": self.risk,
            "regions": [r.as_json() for r in self.regions],
            "text_changes": self.text_changes,
            "ocr": self.ocr,
            "metrics": self.metrics,
            "detector": self.detector,
        }


def top_regions(maps: ScoreMaps, size: int, count: int, max_iou: float = 0.2) -> list[Region]:
    """The ``count`` crops of side ``size`` the detector scores highest, none overlapping
    another by more than ``max_iou``."""
    size = min(size, maps.width, maps.height)
    grid = maps.crop_grid(size, STRIDE)
    order = np.argsort(-grid, axis=None)
    chosen: list[Region] = []
    for flat in order.tolist():
        if len(chosen) == count:
            break
        row, column = divmod(flat, grid.shape[1])
        # The best crop inside the cell: centred on the map's peak there.
        box = _best_in_cell(maps, size, row * STRIDE, column * STRIDE)
        if any(box.iou(r.box) > max_iou for r in chosen):
            continue
        scores = maps.crop_scores(box.x, box.y, box.size)
        chosen.append(Region(box, scores, box.share_percent(maps.width, maps.height)))
    return chosen


def _best_in_cell(maps: ScoreMaps, size: int, y: int, x: int) -> crops.Box:
    """The crop centred on the highest map value that the crops whose corners lie in the
    cell at (x, y) reach. Centred, not kept to the cell: every cell whose crops reach a peak
    scores the same, and the first of them in the grid's order holds the peak at a crop's
    far corner, where half of a change around it would fall outside."""
    window = maps.miscompression[
        y // SCALE : (y + STRIDE + size) // SCALE + 1, x // SCALE : (x + STRIDE + size) // SCALE + 1
    ]
    row, column = (int(v) for v in np.unravel_index(int(np.argmax(window)), window.shape))
    cx = (x // SCALE + column) * SCALE + SCALE / 2
    cy = (y // SCALE + row) * SCALE + SCALE / 2
    return crops.Box.centred(cx, cy, size, maps.width, maps.height)


def _score_image(maps: ScoreMaps) -> RGB8:
    """The miscompression map as a heat image at the image's size (dark: low; yellow: high)."""
    value = np.clip(maps.miscompression, 0, 1)
    heat = np.stack([value, value**2, value**6 * 0.6], axis=2)
    small = Image.fromarray((heat * 255).astype(np.uint8))
    full = small.resize((small.width * SCALE, small.height * SCALE), Image.Resampling.NEAREST)
    return np.asarray(full, dtype=np.uint8)[: maps.height, : maps.width]


def audit(
    original: RGB8,
    reconstruction: RGB8,
    detector: Detector,
    *,
    regions: int = 10,
    size: int = 64,
    ocr: bool = True,
    bpp: float | None = None,
) -> Audit:
    """The audit of one pair (which must have one size)."""
    if original.shape != reconstruction.shape:
        raise ValueError(
            f"the original is {original.shape[1]} x {original.shape[0]} pixels and the "
            f"reconstruction {reconstruction.shape[1]} x {reconstruction.shape[0]}: "
            "an audit compares two images of one size"
        )
    maps = detector.score(original, reconstruction)
    changes, engine = _text_changes(original, reconstruction) if ocr else ([], "not asked for")
    return Audit(
        width=original.shape[1],
        height=original.shape[0],
        regions=top_regions(maps, size, regions),
        text_changes=changes,
        ocr=engine,
        metrics=metrics.measure(original, reconstruction).as_json(),
        detector={
            "name": detector.card.get("name"),
            "outputs": list(OUTPUTS),
            "seed": detector.card.get("seed"),
        },
        score_map=_score_image(maps),
        difference=metrics.amplified_difference(original, reconstruction),
        bpp=bpp,
    )


def _text_changes(original: RGB8, reconstruction: RGB8) -> tuple[list[dict[str, Any]], str]:
    from app.domain.ocr import OcrUnavailable, TesseractOcr

    try:
        engine = TesseractOcr()
    except OcrUnavailable as exc:
        return [], f"unavailable: {exc}"
    changes = crops.text_changes(engine.read(original), engine.read(reconstruction))
    found = []
    for change in changes:
        word = change.pop("word", None)
        box = [word.x, word.y, word.width, word.height] if word is not None else None
        found.append({**change, "box": box})
    return found, engine.version()


def data_url(rgb: RGB8) -> str:
    return "data:image/png;base64," + base64.b64encode(png.encode(rgb)).decode("ascii")


ZOOM = 4
"""How much the crops of an HTML audit are enlarged (an integer: pixel-exact)."""


def audit_html(audit: Audit, original: RGB8, reconstruction: RGB8, title: str) -> str:
    """A self-contained HTML page: the pair in the pixel-exact viewer (the regions as boxes,
    the score map to overlay), the score map and the difference, then each region's
    original, reconstruction and difference, pixel-exact."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    # Beside this module, not among the web's templates: a file for the user's disk, whose
    # inline style the web's Content-Security-Policy would block.
    # The viewer's markup is the web's (templates/_viewer.html).
    environment = Environment(
        loader=FileSystemLoader([Path(__file__).parent / "templates", PROJECT_ROOT / "templates"]),
        autoescape=select_autoescape(),
    )
    urls = {
        "original": data_url(original),
        "reconstruction": data_url(reconstruction),
        "score": data_url(audit.score_map),
    }
    whole = [
        ("detector score", urls["score"]),
        ("|difference| amplified", data_url(audit.difference)),
    ]
    regions = []
    for region in audit.regions:
        box = region.box
        window = (slice(box.y, box.y + box.size), slice(box.x, box.x + box.size))
        regions.append(
            (
                region,
                [
                    ("original", data_url(original[window])),
                    ("reconstruction", data_url(reconstruction[window])),
                    ("difference", data_url(audit.difference[window])),
                ],
            )
        )
    page = environment.get_template("audit_report.html")
    return page.render(
        audit=audit,
        title=title,
        whole=whole,
        regions=regions,
        zoom=ZOOM,
        viewer=viewer_data(audit.as_json(), urls.__getitem__),
        # Inline, where a closing tag would end the element early.
        script=viewer_script().replace("</script", "<\\/script"),
        css=(PROJECT_ROOT / "static" / "css" / "app.css").read_text().replace("</style", ""),
    )


def audit_run(
    session: Session,
    storage: MediaStorage,
    run_id: int,
    detector: Detector,
    *,
    size: int = 64,
    regions: int = 5,
    ocr: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """The audit of every finished result of a run, riskiest first (each as JSON, with the
    result's id, image file name and bpp)."""
    from app.codec_runs import service
    from app.codec_runs.models import CodecResult
    from app.datasets.models import Image as DatasetImage
    from app.storage import load_rgb

    service.get_run(session, run_id)  # NotFound for a run that does not exist
    rows = session.execute(
        select(CodecResult, DatasetImage)
        .join(DatasetImage, DatasetImage.id == CodecResult.image_id)
        .where(
            CodecResult.run_id == run_id,
            CodecResult.status == "done",
            CodecResult.recon_key.is_not(None),
        )
        .order_by(CodecResult.id)
    ).all()
    ranked = []
    for done, (result, image) in enumerate(rows, 1):
        assert result.recon_key is not None
        found = audit(
            load_rgb(storage, image.storage_key),
            load_rgb(storage, result.recon_key),
            detector,
            regions=regions,
            size=size,
            ocr=ocr,
            bpp=result.bpp,
        )
        ranked.append({"result_id": result.id, "image": image.filename, **found.as_json()})
        if progress is not None:
            progress(done, len(rows))
    return sorted(ranked, key=lambda entry: (-entry["risk"], entry["result_id"]))
