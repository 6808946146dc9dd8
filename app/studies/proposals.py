"""Proposing a study's items on the post-processing worker: candidates, sample, render.

1. Distortion maps of every finished result are normalised per (codec run, bpp bucket) over
   the whole study (``crops.bucket_scale``), then guided crops are proposed per crop size.
2. OCR reads the original (once per image) and each reconstruction; changed words give text
   crops (strong SYMBOL candidates).
3. Random crops are drawn per crop size from every position of every result, uniformly
   without replacement, so each carries its exact inclusion probability (n / positions).
4. Items follow the study's quotas: guided (text first, then the best normalised scores),
   random, and controls (the original shown as the reconstruction; optionally a planted
   colour change of known place).
5. Every pane of every item is rendered once, losslessly, as a PNG without metadata, stored
   under a content address and served under an opaque token.
"""

from __future__ import annotations

import io
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.codec_runs.models import RUN_ACTIVE_STATUSES, CodecResult, CodecRun
from app.config import Settings
from app.datasets.models import Image
from app.domain import crops, metrics, png
from app.domain import panes as pane_names
from app.domain.codecs.base import RGB8
from app.storage import MediaStorage, artefact_key, load_rgb
from app.studies.models import Study, StudyAsset, StudyItem

WAITING = "waiting"
"""What ``propose`` returns while a run of the study is still coding."""
GUIDED_PER_IMAGE = 3
"""Guided candidates per result and crop size, before the study-wide ranking."""


@dataclass
class Candidate:
    result: CodecResult
    image: Image
    proposal: crops.Proposal
    kind: str = "crop"


@dataclass
class Context:
    """What proposing keeps in memory per result: pixels are loaded on demand."""

    study: Study
    storage: MediaStorage
    results: list[tuple[CodecResult, Image]]
    report: dict[str, Any] = field(default_factory=dict)
    versus: dict[int, CodecResult] = field(default_factory=dict)
    """Image id -> the versus run's result for it (studies with a versus run)."""


def _raw_map(storage: MediaStorage, key: str | None, name: str) -> NDArray[np.float32] | None:
    if not key:
        return None
    with np.load(io.BytesIO(storage.read(key))) as archive:
        return np.asarray(archive[name], dtype=np.float32)


def _distortion(
    storage: MediaStorage, result: CodecResult, image: Image
) -> tuple[NDArray[np.float32], ...]:
    """The result's distortion maps: CIEDE2000, 1 - SSIM (stored raw values, or computed
    now when the run did not keep them) and the largest absolute channel difference."""
    assert result.recon_key is not None
    original = load_rgb(storage, image.storage_key)
    recon = load_rgb(storage, result.recon_key)
    ciede = _raw_map(storage, result.maps.get("ciede2000_raw"), "ciede2000")
    ssim = _raw_map(storage, result.maps.get("ssim_raw"), "ssim")
    if ciede is None or ssim is None:
        analysis = metrics.analyse(original, recon)
        ciede, ssim = analysis.ciede2000_map, analysis.ssim_map
    difference = np.abs(original.astype(np.int16) - recon).max(axis=2).astype(np.float32)
    return ciede, 1.0 - ssim, difference


MAP_NAMES = ("ciede2000_p95", "ssim_loss_p95", "abs_difference_p95")


def _guided(context: Context) -> list[Candidate]:
    buckets: dict[tuple[int, float], list[tuple[CodecResult, Image]]] = defaultdict(list)
    for result, image in context.results:
        buckets[(result.run_id, crops.log_bpp_bucket(result.bpp or 0.0))].append((result, image))
    candidates: list[Candidate] = []
    scales = {}
    for (run_id, bucket), members in sorted(buckets.items()):
        maps = [_distortion(context.storage, r, i) for r, i in members]
        bucket_scales = [crops.bucket_scale([m[k] for m in maps]) for k in range(len(MAP_NAMES))]
        scales[f"run {run_id}, bpp >= {bucket}"] = {
            **{name: round(v, 4) for name, v in zip(MAP_NAMES, bucket_scales, strict=True)},
            "results": len(members),
        }
        for (result, image), result_maps in zip(members, maps, strict=True):
            # A region stands out when any of the three maps does, each on its bucket's scale.
            normalised = np.maximum.reduce(
                [m / scale for m, scale in zip(result_maps, bucket_scales, strict=True)]
            )
            for size in context.study.crop_sizes:
                for proposal in crops.guided_crops(normalised, size, top_k=GUIDED_PER_IMAGE):
                    candidates.append(Candidate(result, image, proposal))
    context.report["bucket_scales"] = scales
    return candidates


def _text(context: Context) -> list[Candidate]:
    from app.domain.ocr import OcrUnavailable, TesseractOcr

    try:
        ocr = TesseractOcr()
    except OcrUnavailable as exc:
        context.report["ocr"] = f"unavailable: {exc}"
        return []
    context.report["ocr"] = ocr.version()
    originals: dict[int, list[crops.Word]] = {}
    candidates = []
    for result, image in context.results:
        if image.id not in originals:
            originals[image.id] = ocr.read(load_rgb(context.storage, image.storage_key))
        if not originals[image.id]:
            continue  # no text in the original; new text alone is left to the guided crops
        assert result.recon_key is not None
        after = ocr.read(load_rgb(context.storage, result.recon_key))
        for size in context.study.crop_sizes:
            for proposal in crops.text_crops(
                originals[image.id], after, size, image.width, image.height
            ):
                candidates.append(Candidate(result, image, proposal))
    return candidates


def _random(context: Context, count: int, size: int, rng: np.random.Generator) -> list[Candidate]:
    """``count`` distinct (result, position) units drawn uniformly from all of them."""
    units = [crops.random_positions(i.width, i.height, size) for _, i in context.results]
    total = sum(units)
    drawn = min(count, total)
    if drawn == 0:
        return []
    probability = drawn / total
    bounds = np.cumsum(units)
    chosen = []
    for unit in sorted(rng.choice(total, size=drawn, replace=False).tolist()):
        index = int(np.searchsorted(bounds, unit, side="right"))
        result, image = context.results[index]
        offset = unit - (int(bounds[index - 1]) if index else 0)
        columns = image.width - size + 1
        box = crops.Box(offset % columns, offset // columns, size)
        proposal = crops.Proposal(
            box, "random", 0.0, inclusion_probability=probability, evidence={"units": total}
        )
        chosen.append(Candidate(result, image, proposal))
    return chosen


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def select_items(context: Context, rng: np.random.Generator) -> list[Candidate]:
    study = context.study
    n = study.items_target
    quota = {k: study.quotas.get(k, 0.0) for k in ("guided", "random", "control")}
    n_random = round(n * quota["random"])
    n_control = round(n * quota["control"])
    n_guided = max(0, n - n_random - n_control) if quota["guided"] else 0
    sizes = study.crop_sizes
    pool: list[Candidate] = []
    if "text" in study.methods:
        pool += sorted(_text(context), key=lambda c: -c.proposal.score)
    if "guided" in study.methods:
        pool += sorted(_guided(context), key=lambda c: -c.proposal.score)
    selected: list[Candidate] = []
    seen: set[tuple[int, int, int, int]] = set()
    for size, wanted in zip(sizes, _split(n_guided, len(sizes)), strict=True):
        taken = 0
        for candidate in pool:
            box = candidate.proposal.box
            key = (candidate.result.id, box.x, box.y, box.size)
            if taken == wanted or box.size != size or key in seen:
                continue
            seen.add(key)
            selected.append(candidate)
            taken += 1
    if "random" in study.methods:
        for size, wanted in zip(sizes, _split(n_random, len(sizes)), strict=True):
            selected += _random(context, wanted, size, rng)
    for size, wanted in zip(sizes, _split(n_control, len(sizes)), strict=True):
        for i, candidate in enumerate(_random(context, wanted, size, rng)):
            planted = study.planted_controls and i % 2 == 1
            candidate.kind = "control_planted" if planted else "control_identity"
            candidate.proposal = crops.Proposal(candidate.proposal.box, "control", 0.0)
            selected.append(candidate)
    context.report["candidates"] = {
        "text": sum(1 for c in pool if c.proposal.method == "text"),
        "guided": sum(1 for c in pool if c.proposal.method == "guided"),
    }
    context.report["items"] = {
        method: sum(1 for c in selected if c.proposal.method == method)
        for method in ("text", "guided", "random", "control")
    }
    # Fewer candidates than the quota asks for is reported, never padded: the guided share
    # then is what the codec's distortions gave, and the random sample keeps its design.
    guided_found = context.report["items"]["text"] + context.report["items"]["guided"]
    context.report["shortfall"] = {"guided": n_guided - guided_found}
    return selected


@dataclass(frozen=True)
class PlantedChange:
    """A disc of a sixth of the crop, its colour channels rotated (red -> green -> blue),
    centred at (cx, cy) in crop pixels."""

    cx: int
    cy: int
    radius: int

    @classmethod
    def draw(cls, size: int, rng: np.random.Generator) -> PlantedChange:
        radius = max(2, size // 12)
        cy, cx = (int(v) for v in rng.integers(radius, size - radius, 2))
        return cls(cx, cy, radius)

    def apply(self, pixels: RGB8, offset: tuple[int, int] = (0, 0)) -> RGB8:
        """``pixels`` with the change, the crop's corner at ``offset`` (x, y) in them."""
        height, width = pixels.shape[:2]
        yy, xx = np.mgrid[0:height, 0:width]
        cx, cy = self.cx + offset[0], self.cy + offset[1]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= self.radius**2
        planted = pixels.copy()
        planted[disc] = pixels[disc][:, [2, 0, 1]]
        return planted

    def evidence(self) -> dict[str, Any]:
        return {"planted": "colour rotation", "centre": [self.cx, self.cy], "radius": self.radius}


def _compared_panes(
    context: Context,
    candidate: Candidate,
    window: crops.Box,
    change: PlantedChange | None,
    pixels: Callable[[str], RGB8],
) -> dict[str, RGB8]:
    """Original, reconstruction (or what a control shows in its place), JPEG and the versus
    run's reconstruction, cut to ``window``."""
    study = context.study
    box = candidate.proposal.box

    def cut(key: str) -> RGB8:
        return np.ascontiguousarray(
            pixels(key)[window.y : window.y + window.size, window.x : window.x + window.size]
        )

    original = cut(candidate.image.storage_key)
    if candidate.kind == "control_identity":
        shown = original
    elif candidate.kind == "control_planted":
        assert change is not None
        shown = change.apply(original, (box.x - window.x, box.y - window.y))
    else:
        assert candidate.result.recon_key is not None
        shown = cut(candidate.result.recon_key)
    panes = {"original": original, "reconstruction": shown}
    if "jpeg" in study.panes and candidate.result.jpeg_key:
        panes["jpeg"] = cut(candidate.result.jpeg_key)
    versus = context.versus.get(candidate.image.id)
    if versus is not None and versus.recon_key:
        panes["versus"] = cut(versus.recon_key)
    return panes


def _thumbnail(original: RGB8) -> RGB8:
    width, height = crops.thumbnail_size(original.shape[1], original.shape[0])
    small = PILImage.fromarray(original).resize((width, height), PILImage.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8)


def _render(
    context: Context,
    candidate: Candidate,
    cache: dict[str, RGB8],
    rng: np.random.Generator,
) -> tuple[dict[str, tuple[str, str]], dict[str, Any]]:
    """Every pane of the item as a stored PNG under a new opaque token (pane -> (token,
    storage key)): the crop's panes, the same panes 2x and 4x wider for context
    (``context2:original``...), the run's maps cut to the crop, and a thumbnail of the whole
    original. Writes files only: the rows are written once every item is rendered."""
    storage, study = context.storage, context.study

    def pixels(key: str) -> RGB8:
        if key not in cache:
            if len(cache) > 16:
                cache.clear()
            cache[key] = load_rgb(storage, key)
        return cache[key]

    box = candidate.proposal.box
    change = PlantedChange.draw(box.size, rng) if candidate.kind == "control_planted" else None
    evidence = change.evidence() if change else {}
    if candidate.image.id in context.versus:
        evidence["versus_result_id"] = context.versus[candidate.image.id].id
    panes = _compared_panes(context, candidate, box, change, pixels)
    if "difference" in study.panes:
        panes["difference"] = metrics.amplified_difference(
            panes["original"], panes["reconstruction"]
        )
        if candidate.kind == "crop":
            # The run's SSIM and CIEDE2000 heat maps, cut to the crop, for overlays.
            window = (slice(box.y, box.y + box.size), slice(box.x, box.x + box.size))
            for name in ("ssim", "ciede2000"):
                if candidate.result.maps.get(name):
                    panes[f"{name}_map"] = np.ascontiguousarray(
                        pixels(candidate.result.maps[name])[window]
                    )
    image = candidate.image
    for factor in crops.CONTEXT_FACTORS:
        wider = crops.context_window(box, factor, image.width, image.height)
        if wider is not None:
            for pane, rgb in _compared_panes(context, candidate, wider, change, pixels).items():
                panes[f"context{factor}:{pane}"] = rgb
    thumbnail = f"thumbnail:{image.storage_key}"
    if thumbnail not in cache:
        cache[thumbnail] = _thumbnail(pixels(image.storage_key))
    panes["thumbnail"] = cache[thumbnail]
    stored = {}
    for group in _equal_length_groups(panes):
        for pane, encoded in zip(group, _encode_group([panes[p] for p in group]), strict=True):
            key = artefact_key("crops", encoded, ".png")
            storage.put(key, encoded)
            stored[pane] = (secrets.token_urlsafe(16), key)
    return stored, evidence


def _equal_length_groups(panes: Iterable[str]) -> list[list[str]]:
    """The panes that must not be told apart by their bytes, grouped: the compared panes of
    the crop with the original, and the same of each wider context; every other pane (the
    thumbnail, a difference or a map, which blind studies never show) alone."""
    groups: dict[str, list[str]] = defaultdict(list)
    for pane in panes:
        scope, _, name = pane.rpartition(":")
        shown_side_by_side = name == pane_names.ORIGINAL or name in pane_names.COMPARED
        groups[f"{scope}:" if shown_side_by_side else pane].append(pane)
    return list(groups.values())


def _encode_group(images: list[RGB8]) -> list[bytes]:
    """Lossless PNGs without metadata; a group of panes comes out at one byte length, so that
    neither Content-Length nor any header tells a blind rater which pane is which."""
    if len(images) == 1:
        return [png.encode(images[0], compress_level=6)]
    return png.encode_equal_length(images, compress_level=6)


def equalise_pane_lengths(
    session: Session,
    storage: MediaStorage,
    study: Study,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-encode the panes of a study proposed before panes were padded to one byte length
    per item (same pixels, same tokens, new files); returns how many groups changed.
    Idempotent: groups whose files already have one length are left as they are. Flushes;
    the caller commits."""
    items = list(
        session.scalars(
            select(StudyItem).where(StudyItem.study_id == study.id).order_by(StudyItem.id)
        )
    )
    changed = 0
    for done, item in enumerate(items, 1):
        for group in _equal_length_groups(item.assets):
            assets = [session.get(StudyAsset, item.assets[pane]) for pane in group]
            if len(group) < 2 or any(asset is None for asset in assets):
                continue
            stored = [asset for asset in assets if asset is not None]
            if len({len(storage.read(asset.storage_key)) for asset in stored}) == 1:
                continue
            pixels = [load_rgb(storage, asset.storage_key) for asset in stored]
            for asset, encoded in zip(stored, _encode_group(pixels), strict=True):
                asset.storage_key = artefact_key("crops", encoded, ".png")
                storage.put(asset.storage_key, encoded)
                asset.item_id = item.id
            changed += 1
        if progress is not None:
            progress(done, len(items))
    session.flush()
    return changed


def _versus_results(session: Session, study: Study) -> dict[int, CodecResult]:
    """Image id -> the versus run's first finished result of it (empty without a versus run)."""
    if study.versus_run_id is None:
        return {}
    found: dict[int, CodecResult] = {}
    for result in session.scalars(
        select(CodecResult)
        .where(CodecResult.run_id == study.versus_run_id, CodecResult.status == "done")
        .order_by(CodecResult.id)
    ):
        if result.recon_key:
            found.setdefault(result.image_id, result)
    return found


def propose(
    factory: sessionmaker[Session], storage: MediaStorage, settings: Settings, study_id: int
) -> str:
    """Propose and store a study's items; the study opens when they are stored. A study
    created over runs that are still coding waits for them (returns WAITING). Idempotent: a
    study that already has items (a redelivered task) is left as it is."""
    del settings  # the signature of every worker step; nothing here depends on settings yet
    with factory() as session:
        session.info["actor_label"] = "worker"
        study = session.get(Study, study_id)
        if study is None:
            return "missing"
        if study.status != "proposing":
            return study.status
        unfinished = session.scalar(
            select(CodecRun.id)
            .where(
                CodecRun.id.in_([*study.run_ids, study.versus_run_id]),
                CodecRun.status.in_(RUN_ACTIVE_STATUSES),
            )
            .limit(1)
        )
        if unfinished is not None:
            return WAITING  # proposed once every run is finished (the task retries)
        if session.scalar(select(StudyItem.id).where(StudyItem.study_id == study.id).limit(1)):
            study.status = "open"
            session.commit()
            return study.status
        rows = session.execute(
            select(CodecResult, Image)
            .join(Image, Image.id == CodecResult.image_id)
            .where(CodecResult.run_id.in_(study.run_ids), CodecResult.status == "done")
            .order_by(CodecResult.id)
        ).all()
        versus = _versus_results(session, study)
        # With a versus run, only the images it coded too can be set against it.
        results = [(r, i) for r, i in rows if study.versus_run_id is None or i.id in versus]
        context = Context(study, storage, results, versus=versus)
        rng = np.random.default_rng(study.seed)
        selected = select_items(context, rng)
        order = rng.permutation(len(selected))
        cache: dict[str, RGB8] = {}
        rendered: list[tuple[StudyItem, dict[str, tuple[str, str]]]] = []
        for position, candidate in zip(order.tolist(), selected, strict=True):
            proposal = candidate.proposal
            stored, planted = _render(context, candidate, cache, rng)
            item = StudyItem(
                study_id=study.id,
                position=position,
                kind=candidate.kind,
                method=proposal.method,
                result_id=candidate.result.id,
                image_id=candidate.image.id,
                x=proposal.box.x,
                y=proposal.box.y,
                size=proposal.box.size,
                share_percent=crops.share_of_image(
                    proposal.box, candidate.image.width, candidate.image.height
                ),
                score=proposal.score,
                inclusion_probability=proposal.inclusion_probability,
                evidence={**proposal.evidence, **planted},
                assets={pane: token for pane, (token, _) in stored.items()},
                active_count=0,
                done_count=0,
            )
            session.add(item)
            rendered.append((item, stored))
        # One write at the end: SQLite's write lock is taken at the first flush and held to
        # the commit, and rendering takes minutes (logins and labels would wait on it).
        session.flush()
        session.add_all(
            StudyAsset(token=token, study_id=study.id, item_id=item.id, storage_key=key)
            for item, stored in rendered
            for token, key in stored.values()
        )
        study.proposal_report = context.report
        study.status = "open" if selected else "failed"
        if not selected:
            study.error = "no crop could be proposed (are the crops larger than the images?)"
        session.commit()
        return study.status
