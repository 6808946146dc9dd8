"""Proposing a study's items on the post-processing worker: candidates, sample, render.

1. Each proposal method the study chose (``app/studies/methods``: guided, text, random...)
   gives its candidates.
2. Items follow the study's quotas: guided (the targeted methods' candidates, text first,
   then the best normalised scores, at most ``image_cap`` per image), random (the sample
   method's draw, stratified by image, each crop with its inclusion probability), and
   controls (the original shown as the reconstruction; optionally a planted colour change
   of known place).
3. Every pane of every item is rendered once, losslessly, as a PNG without metadata, stored
   under a content address and served under an opaque token.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
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
from app.studies.methods import registry
from app.studies.methods.base import CONTROL, TARGETED, Candidate, Context, Wanted
from app.studies.models import Study, StudyAsset, StudyItem

WAITING = "waiting"
"""What ``propose`` returns while a run of the study is still coding."""


SPREAD = 2.0
"""No image takes more than this many times its fair share of the targeted methods' items:
a texture that OCR reads as text, or one badly coded image, cannot fill a study alone."""


def image_cap(items: int, images: int) -> int:
    """The most items of the guided quota that one image may take (at least one)."""
    return max(1, math.ceil(SPREAD * items / max(images, 1)))


def _best(pool: list[Candidate], per_size: dict[int, int], cap: int) -> list[Candidate]:
    """The first candidates of ``pool`` per crop size, as many as wanted, each crop once and
    at most ``cap`` per image over every size."""
    best: list[Candidate] = []
    seen: set[tuple[int, int, int, int]] = set()
    per_image: Counter[int] = Counter()
    for size, wanted in per_size.items():
        taken = 0
        for candidate in pool:
            box = candidate.proposal.box
            key = (candidate.result.id, box.x, box.y, box.size)
            if taken == wanted:
                break
            if box.size != size or key in seen or per_image[candidate.image.id] >= cap:
                continue
            seen.add(key)
            per_image[candidate.image.id] += 1
            best.append(candidate)
            taken += 1
    return best


def _controls(
    context: Context, per_size: dict[int, int], rng: np.random.Generator
) -> list[Candidate]:
    """Controls at uniformly drawn places: the original shown as the reconstruction, or, for
    every second one of a study with planted controls, the original with a planted change."""
    controls = []
    for size, wanted in per_size.items():
        for i, candidate in enumerate(context.uniform_crops(size, wanted, rng)):
            planted = context.study.planted_controls and i % 2 == 1
            candidate.kind = "control_planted" if planted else "control_identity"
            candidate.proposal = crops.Proposal(candidate.proposal.box, CONTROL, 0.0)
            controls.append(candidate)
    return controls


def select_items(context: Context, rng: np.random.Generator) -> list[Candidate]:
    study = context.study
    n = study.items_target
    share = {k: study.quotas.get(k, 0.0) for k in ("guided", "random", "control")}
    n_random = round(n * share["random"])
    n_control = round(n * share["control"])
    n_guided = max(0, n - n_random - n_control) if share["guided"] else 0
    wanted = {
        "guided": Wanted(crops.per_size(study.crop_sizes, n_guided), rng),
        "random": Wanted(crops.per_size(study.crop_sizes, n_random), rng),
    }
    pool: list[Candidate] = []
    sampled: list[Candidate] = []
    # Targeted methods come first, in their fill order: each one's candidates, best first,
    # before the next one's. Then the sample (at most one: StudyCreate allows no more).
    for method in registry.methods(study.methods):
        params = method.params_model.model_validate(study.method_params.get(method.name, {}))
        found = method.candidates(context, params, wanted[method.quota])
        if method.kind == TARGETED:
            pool += sorted(found, key=lambda c: -c.proposal.score)
        else:
            sampled += found
    cap = image_cap(n_guided, len({image.id for _, image in context.results}))
    context.report["per_image_cap"] = cap
    selected = [
        *_best(pool, wanted["guided"].per_size, cap),
        *sampled,
        *_controls(context, crops.per_size(study.crop_sizes, n_control), rng),
    ]
    every_method = registry.methods()
    targeted = [m.name for m in every_method if m.kind == TARGETED]
    context.report["candidates"] = {
        name: sum(1 for c in pool if c.proposal.method == name) for name in targeted
    }
    context.report["items"] = {
        name: sum(1 for c in selected if c.proposal.method == name)
        for name in [*(m.name for m in every_method), CONTROL]
    }
    # Fewer candidates than the quota asks for is reported, never padded: the guided share
    # then is what the codec's distortions gave, and the random sample keeps its design.
    guided_found = sum(context.report["items"][name] for name in targeted)
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
        try:
            selected = select_items(context, rng)
        except registry.UnknownMethod as exc:
            # A method the web process offered that this worker does not have.
            study.status, study.error = "failed", str(exc)
            session.commit()
            return study.status
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
