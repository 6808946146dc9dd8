"""Audits of pairs by the detector, asked for on the web and made by a worker.

The web process checks what it is given (two uploaded images of one size, or a run's
finished result), stores uploaded images as lossless PNGs under content addresses, and queues
the audit; it never imports torch. The worker (``run_pair_audit``) runs the detector and OCR
(``app/detector/audit.py``) and stores the score map, the difference and each region's crops
beside the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.codec_runs.models import CodecResult
from app.config import Settings
from app.datasets.models import Image
from app.domain import png
from app.domain.codecs.base import RGB8
from app.domain.images import ImageRejected, decode_image
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import enqueue_after_commit, run_job
from app.pair_audits import task_names
from app.pair_audits.models import AUDIT_ACTIVE_STATUSES, PairAudit
from app.storage import MediaStorage, artefact_key, load_rgb, media_storage
from app.users.models import User

REGIONS = 10
REGION_SIZE = 64


def _stored_png(
    storage: MediaStorage, data: bytes, what: str, max_pixels: int
) -> tuple[str, tuple[int, int]]:
    """The upload decoded and stored as a lossless PNG: its key and size (width, height)."""
    try:
        decoded = decode_image(data, max_pixels=max_pixels)
    except ImageRejected as exc:
        raise InvalidInput(f"{what}: {exc}") from None
    encoded = decoded.png_bytes()
    key = artefact_key("audits", encoded, ".png")
    storage.put(key, encoded)
    return key, (decoded.width, decoded.height)


def audit_uploads(
    session: Session,
    settings: Settings,
    original: tuple[str, bytes],
    reconstruction: tuple[str, bytes],
    *,
    actor: User,
) -> PairAudit:
    """Queue the audit of an uploaded pair ((file name, bytes) each); they must be images of
    one size."""
    storage = media_storage(settings)
    limit = settings.max_image_pixels
    original_key, size = _stored_png(storage, original[1], "the original", limit)
    recon_key, recon_size = _stored_png(storage, reconstruction[1], "the reconstruction", limit)
    if size != recon_size:
        raise InvalidInput(
            f"the original is {size[0]} x {size[1]} pixels and the reconstruction "
            f"{recon_size[0]} x {recon_size[1]}: an audit compares two images of one size"
        )
    title = f"{original[0] or 'original'} against {reconstruction[0] or 'reconstruction'}"
    return _queued(session, title[:300], original_key, recon_key, None, None, actor)


def audit_result(session: Session, result_id: int, *, actor: User) -> PairAudit:
    """Queue the audit of a run's finished result (its original and reconstruction)."""
    result = session.get(CodecResult, result_id)
    if result is None:
        raise NotFound(f"result {result_id} not found")
    if result.status != "done" or not result.recon_key:
        raise Conflict(f"result {result_id} has no reconstruction to audit ({result.status})")
    image = session.get(Image, result.image_id)
    assert image is not None
    title = f"{image.filename}, run {result.run_id} (result {result.id})"
    return _queued(
        session, title[:300], image.storage_key, result.recon_key, result.id, result.bpp, actor
    )


def _queued(
    session: Session,
    title: str,
    original_key: str,
    reconstruction_key: str,
    result_id: int | None,
    bpp: float | None,
    actor: User,
) -> PairAudit:
    audit = PairAudit(
        title=title,
        original_key=original_key,
        reconstruction_key=reconstruction_key,
        result_id=result_id,
        bpp=bpp,
        status="queued",
        report={},
        created_by_id=actor.id,
    )
    session.add(audit)
    session.flush()
    enqueue_after_commit(session, task_names.AUDIT_PAIR, audit.id)
    return audit


def get_pair_audit(session: Session, audit_id: int) -> PairAudit:
    audit = session.get(PairAudit, audit_id)
    if audit is None:
        raise NotFound(f"audit {audit_id} not found")
    return audit


def run_of(session: Session, audit: PairAudit) -> int | None:
    """The run of the audited result, for a link to its viewer (None for uploads, or once
    the result is deleted)."""
    if audit.result_id is None:
        return None
    result = session.get(CodecResult, audit.result_id)
    return result.run_id if result is not None else None


def image_key(audit: PairAudit, name: str) -> str:
    """The storage key of one of an audit's images: original, reconstruction, score,
    difference, or a region's crop (``region-3-original``); NotFound for any other name."""
    keys = {"original": audit.original_key, "reconstruction": audit.reconstruction_key}
    keys.update(audit.report.get("images", {}))
    if name not in keys:
        raise NotFound(f"audit {audit.id} has no image {name!r}")
    return str(keys[name])


def run_pair_audit(factory: sessionmaker[Session], settings: Settings, audit_id: int) -> str:
    """The worker's step (``jobs.run_job``): audit the pair and store the report and its
    images."""
    from app.detector import model
    from app.detector.audit import audit

    def work(session: Session, job: PairAudit) -> dict[str, Any]:
        storage = media_storage(settings)
        original = load_rgb(storage, job.original_key)
        reconstruction = load_rgb(storage, job.reconstruction_key)
        detector = model.load(settings.detector_weights, model.pick_device())
        found = audit(
            original, reconstruction, detector, regions=REGIONS, size=REGION_SIZE, bpp=job.bpp
        )
        report = found.as_json()
        report["images"] = _store_images(storage, found, original, reconstruction)
        return {"report": report}

    return run_job(factory, PairAudit, audit_id, AUDIT_ACTIVE_STATUSES, work)


def _store_images(
    storage: MediaStorage, found: Any, original: RGB8, reconstruction: RGB8
) -> dict[str, str]:
    """The score map, the difference and each region's three crops, stored as PNGs."""
    images = {"score": found.score_map, "difference": found.difference}
    for rank, region in enumerate(found.regions, 1):
        box = region.box
        window = (slice(box.y, box.y + box.size), slice(box.x, box.x + box.size))
        images[f"region-{rank}-original"] = original[window]
        images[f"region-{rank}-reconstruction"] = reconstruction[window]
        images[f"region-{rank}-difference"] = found.difference[window]
    keys = {}
    for name, pixels in images.items():
        encoded = png.encode(np.ascontiguousarray(pixels))
        keys[name] = artefact_key("audits", encoded, ".png")
        storage.put(keys[name], encoded)
    return keys
