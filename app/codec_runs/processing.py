"""What the workers do for one result: encode and decode it (on the codec's queue), then
measure it, draw its maps and find its bpp-matched JPEG (on the post-processing queue).

Both steps claim the result row with a conditional UPDATE, so a duplicated task finds the row
already taken or finished and does nothing, while a task redelivered after its worker was
killed (same task id) takes its own row back and redoes the step. Artefacts are stored under
content addresses, so a redone step writes the same keys again.
"""

from __future__ import annotations

import logging
import platform
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session, sessionmaker

from app.codec_runs import task_names
from app.codec_runs.models import (
    CodecResult,
    CodecRun,
)
from app.codec_runs.recovery import finish_runs_left_without_work
from app.config import Settings
from app.datasets.models import Image
from app.db import utcnow
from app.domain import heatmaps, metrics, png
from app.domain.codecs import registry
from app.domain.codecs.base import RGB8, CodecError, CodecOutput, CodecUnavailable, check_output
from app.domain.codecs.classical import JpegCodec
from app.domain.codecs.rate import RateMatch, match_bpp
from app.domain.perceptual import PerceptualMetrics
from app.jobs import enqueue_after_commit
from app.storage import MediaStorage, StorageFull, artefact_key, load_rgb

logger = logging.getLogger(__name__)


def _claim(
    session: Session, result_id: int, *, ready: str, working: str, task_id: str, lease_s: float
) -> CodecResult | None:
    now = utcnow()
    stale = now - timedelta(seconds=lease_s)
    claimed = session.execute(  # type: ignore[attr-defined]
        update(CodecResult)
        .where(
            CodecResult.id == result_id,
            or_(
                CodecResult.status == ready,
                and_(
                    CodecResult.status == working,
                    or_(CodecResult.claimed_by == task_id, CodecResult.claimed_at < stale),
                ),
            ),
        )
        .values(
            status=working,
            claimed_by=task_id,
            claimed_at=now,
            # Attempts count encodes: the figure an admin reads to spot flaky codecs.
            attempts=CodecResult.attempts + (1 if working == "encoding" else 0),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    session.commit()
    result = session.get(CodecResult, result_id, populate_existing=True)
    return result


def _run_is_cancelled(session: Session, result: CodecResult) -> bool:
    run = session.get(CodecRun, result.run_id)
    if run is None or run.status == "cancelled":
        result.status = "cancelled"
        result.finished_at = utcnow()
        return True
    if run.status == "queued":
        run.status = "running"
        run.started_at = utcnow()
    return False


def _start_step(
    session: Session,
    result_id: int,
    ready: str,
    working: str,
    task_id: str,
    settings: Settings,
) -> CodecResult | str:
    """Claim the result for one step; the status to return instead when there is nothing to
    do (another task holds it, it is finished, or its run was cancelled)."""
    session.info["actor_label"] = "worker"
    result = _claim(
        session,
        result_id,
        ready=ready,
        working=working,
        task_id=task_id,
        lease_s=settings.task_lease_s,
    )
    if result is None:
        current = session.get(CodecResult, result_id)
        return current.status if current else "missing"
    if _run_is_cancelled(session, result):
        session.commit()
        finish_runs_left_without_work(session, [result.run_id])
        return result.status
    return result


def _fail(result: CodecResult, message: str, *, status: str = "failed") -> None:
    result.status = status
    result.error = message[:5000]
    result.finished_at = utcnow()


def _end_unfinished(
    session: Session, result: CodecResult, message: str, *, status: str = "failed"
) -> str:
    """End the result with ``message`` (committed), and its run if it was the last."""
    _fail(result, message, status=status)
    session.commit()
    finish_runs_left_without_work(session, [result.run_id])
    return result.status


def _reason(exc: BaseException) -> str:
    """What a failed image shows: a full media disk in plain words, anything else with the
    exception's type."""
    if isinstance(exc, StorageFull):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def environment(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    versions = {}
    for package in ("pillow", "numpy", "scikit-image", "torch", "compressai"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "machine": platform.node(),
        "packages": versions,
        **(extra or {}),
    }


def encode_result(
    factory: sessionmaker[Session],
    storage: MediaStorage,
    settings: Settings,
    result_id: int,
    task_id: str,
) -> str:
    """Encode and decode one image; returns the result's status afterwards."""
    with factory() as session:
        result = _start_step(session, result_id, "pending", "encoding", task_id, settings)
        if isinstance(result, str):
            return result
        run = session.get(CodecRun, result.run_id)
        image = session.get(Image, result.image_id)
        if run is None or image is None:
            raise LookupError(f"result {result_id}: its run or image was deleted")
        result.started_at = result.started_at or utcnow()
        try:
            original = load_rgb(storage, image.storage_key)
            codec = registry.build(run.codec, operator=settings.operator_setup, **run.params)
            output = check_output(original, codec.encode_decode(original, seed=result.seed))
        except Exception as exc:
            # Whatever a codec raises (a broken checkpoint's unpickling error, a shape
            # mismatch, a crashed program) fails this image with its reason; the run goes on
            # and finishes instead of waiting for ever on a result no task will finish.
            if not isinstance(exc, (CodecError, CodecUnavailable, ValueError, OSError)):
                logger.warning("result %s: codec %s failed", result_id, run.codec, exc_info=True)
            return _end_unfinished(session, result, _reason(exc))
        try:
            _store_reconstruction(storage, result, output, codec.identity())
        except OSError as exc:
            # A full media disk (or any failed write) fails this image, not the run: the
            # storage left no half-written file, and the result names no reconstruction.
            logger.warning("result %s: storing the reconstruction failed: %s", result_id, exc)
            return _end_unfinished(session, result, _reason(exc))
        if output.invalid_reason:
            return _end_unfinished(session, result, output.invalid_reason, status="invalid")
        result.status = "encoded"
        enqueue_after_commit(session, task_names.POSTPROCESS, result.id)
        session.commit()
        return result.status


def _store_reconstruction(
    storage: MediaStorage, result: CodecResult, output: CodecOutput, identity: dict[str, Any]
) -> None:
    encoded = png.encode(output.reconstruction)
    key = artefact_key("recon", encoded, ".png")
    storage.put(key, encoded)
    result.recon_key = key
    result.bits = output.bits
    result.bpp = output.bpp()
    result.bits_source = output.bits_source.value
    result.encode_s = output.encode_s
    result.decode_s = output.decode_s
    result.device = output.device
    result.notes = list(output.notes)
    result.environment = environment(
        {
            "codec": identity,
            "seed": result.seed,
            **{k: v for k, v in output.extra.items() if k != "bitstream"},
        }
    )


def postprocess_result(
    factory: sessionmaker[Session],
    storage: MediaStorage,
    settings: Settings,
    result_id: int,
    task_id: str,
) -> str:
    """Metrics, difference images and the bpp-matched JPEG of one reconstruction."""
    with factory() as session:
        result = _start_step(session, result_id, "encoded", "postprocessing", task_id, settings)
        if isinstance(result, str):
            return result
        run = session.get(CodecRun, result.run_id)
        image = session.get(Image, result.image_id)
        if run is None or image is None or result.recon_key is None:
            raise LookupError(f"result {result_id}: run, image or reconstruction is missing")
        try:
            _measure(storage, settings, run, image, result)
        except metrics.ImageTooSmall as exc:
            _fail(result, str(exc))
        except StorageFull as exc:
            logger.warning("result %s: storing its maps or matched JPEG failed: %s", result_id, exc)
            _fail(result, _reason(exc))
        except Exception as exc:
            # As for encoding: the image fails with its reason and the run still finishes.
            logger.warning("result %s: measuring failed", result_id, exc_info=True)
            _fail(result, _reason(exc))
        else:
            result.status = "done"
            result.finished_at = utcnow()
        session.commit()
        finish_runs_left_without_work(session, [result.run_id])
        return result.status


def _measure(
    storage: MediaStorage, settings: Settings, run: CodecRun, image: Image, result: CodecResult
) -> None:
    """The result's metrics and maps, and its matched JPEG, stored and set on ``result``."""
    assert result.recon_key is not None
    learned = perceptual_metrics(str(settings.weights_dir))
    reference: Future[metrics.Reference] = Future()
    # NumPy, Pillow and zlib release the GIL, so the step's parts run on threads, keeping
    # both cores of a small worker busy: the matched JPEG (made, stored, then measured once
    # the original's reference is ready), the difference image, and the CIEDE2000 map with
    # its heat map, beside this thread, which prepares the reference (the original's Lab,
    # then its SSIM moments) and does the SSIM side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        loading = pool.submit(load_rgb, storage, result.recon_key)
        try:
            original = load_rgb(storage, image.storage_key)
            lab = metrics.lab_of(original)
            jpeg = None
            if run.match_jpeg and result.bpp:
                jpeg = pool.submit(
                    _jpeg_reference, storage, run, result.bpp, original, lab, reference, learned
                )
            recon = loading.result()
            difference = (
                pool.submit(_difference_map, storage, original, recon)
                if "difference" in run.maps
                else None
            )
            colour = pool.submit(_colour_difference, storage, run.maps, original, recon, lab)
            reference.set_result(metrics.reference_of(original, lab=lab))
        except BaseException as exc:
            reference.set_exception(exc)  # the JPEG thread must not wait for ever
            raise
        ms_ssim, ssim_values = metrics.structural_similarity(
            original, recon, reference=reference.result()
        )
        maps = _ssim_map(storage, ssim_values) if "ssim" in run.maps else {}
        ciede2000_values, colour_maps = colour.result()
        maps.update(colour_maps)
        if difference is not None:
            maps.update(difference.result())
        result.maps = maps
        result.metrics = {
            **metrics.summarise(original, recon, ms_ssim, ciede2000_values).as_json(),
            **learned.measure(original, recon),
        }
        if jpeg is not None:
            _apply_jpeg_reference(result, jpeg.result())


@cache
def perceptual_metrics(weights_dir: str) -> PerceptualMetrics:
    """LPIPS/DISTS where their backbones are in the weights folder; looked up once per worker
    process (restart workers after adding a backbone)."""
    return PerceptualMetrics(Path(weights_dir))


def _difference_map(storage: MediaStorage, original: RGB8, recon: RGB8) -> dict[str, str]:
    """The amplified difference image, stored, with its gain."""
    encoded = png.encode(
        metrics.amplified_difference(original, recon),
        compress_level=1,
        row_filter=png.RowFilter.NONE,
    )
    key = artefact_key("maps/difference", encoded, ".png")
    storage.put(key, encoded)
    return {"difference": key, "difference_gain": str(metrics.DIFFERENCE_GAIN)}


def warm_up() -> None:
    """What the first post-processing step would otherwise load (the heat maps' colour
    scale): called when a worker process starts, so no result pays for it."""
    heatmaps.warm_up()


def _ssim_map(storage: MediaStorage, ssim_values: NDArray[np.float32]) -> dict[str, str]:
    """The SSIM heat map (of 1 - SSIM) and its raw values, stored."""
    return _store_heatmap(
        storage, "ssim", ssim_values, shown=1.0 - ssim_values, value_range=heatmaps.SSIM_LOSS_RANGE
    )


def _colour_difference(
    storage: MediaStorage,
    wanted: list[str],
    original: RGB8,
    recon: RGB8,
    original_lab: NDArray[np.float32],
) -> tuple[NDArray[np.float32], dict[str, str]]:
    """The CIEDE2000 map and, when the run wants it, its heat map and raw values, stored."""
    values = metrics.ciede2000_map(original, recon, original_lab=original_lab)
    if "ciede2000" not in wanted:
        return values, {}
    keys = _store_heatmap(
        storage, "ciede2000", values, shown=values, value_range=heatmaps.CIEDE2000_RANGE
    )
    return values, keys


def _store_heatmap(
    storage: MediaStorage,
    name: str,
    values: NDArray[np.float32],
    *,
    shown: NDArray[np.float32],
    value_range: tuple[float, float],
) -> dict[str, str]:
    """The map as a PNG heat map of ``shown`` and its raw ``values`` (float16 .npz)."""
    encoded = heatmaps.heatmap_png(shown, value_range)
    raw = heatmaps.npz_bytes(**{name: values.astype(np.float16)})
    keys = {
        name: artefact_key(f"maps/{name}", encoded, ".png"),
        f"{name}_raw": artefact_key(f"maps/{name}-raw", raw, ".npz"),
    }
    storage.put(keys[name], encoded)
    storage.put(keys[f"{name}_raw"], raw)
    return keys


@dataclass(frozen=True)
class JpegReference:
    match: RateMatch
    key: str
    metrics: dict[str, Any]


def _jpeg_reference(
    storage: MediaStorage,
    run: CodecRun,
    target_bpp: float,
    original: RGB8,
    original_lab: NDArray[np.float32],
    reference: Future[metrics.Reference],
    learned: PerceptualMetrics,
) -> JpegReference:
    """The JPEG matched to ``target_bpp``, stored and measured once the original's
    ``reference`` is ready (touches no database row)."""
    match = match_bpp(JpegCodec(**run.jpeg_params), original, target_bpp)
    jpeg = match.output.reconstruction
    encoded = png.encode(jpeg)
    key = artefact_key("recon", encoded, ".png")
    storage.put(key, encoded)
    ms_ssim, _ = metrics.structural_similarity(original, jpeg, reference=reference.result())
    ciede2000_values = metrics.ciede2000_map(original, jpeg, original_lab=original_lab)
    measured = {
        **metrics.summarise(original, jpeg, ms_ssim, ciede2000_values).as_json(),
        **learned.measure(original, jpeg),
    }
    return JpegReference(match, key, measured)


def _apply_jpeg_reference(result: CodecResult, reference: JpegReference) -> None:
    match = reference.match
    result.jpeg_status = match.status.value
    result.jpeg_target_bpp = match.target_bpp
    result.jpeg_quality = match.quality
    result.jpeg_bpp = match.achieved_bpp
    result.jpeg_encodes = match.encodes
    result.jpeg_key = reference.key
    result.jpeg_metrics = reference.metrics
