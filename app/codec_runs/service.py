"""Codec runs as the web, the API and the CLI see them: create, follow, cancel, retry.

Nothing here imports a codec's heavy dependencies: parameters are validated against the
codec's configuration model only; the workers build and run codecs (processing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session

from app.codec_runs import task_names
from app.codec_runs.models import (
    RESULT_ACTIVE_STATUSES,
    RESULT_FINAL_STATUSES,
    RUN_ENDED_STATUSES,
    CodecResult,
    CodecRun,
    CodecSweep,
)
from app.codec_runs.schemas import RunCreate, RunProgress
from app.config import get_settings
from app.datasets import service as dataset_service
from app.datasets.models import Image
from app.db import utcnow
from app.domain import result_order
from app.domain.codecs import registry
from app.domain.codecs.parameters import Parameter
from app.domain.rd import RunPoints
from app.domain.result_order import ResultOrder
from app.errors import Conflict, InvalidInput, NotFound
from app.jobs import enqueue_after_commit
from app.users.models import User


@dataclass(frozen=True)
class RunPlan:
    """A run request checked against the dataset and the codec, ready to queue."""

    data: RunCreate
    params: dict[str, Any]
    jpeg_params: dict[str, Any]
    image_ids: list[int]


def validate_params(codec: str, params: dict[str, Any]) -> dict[str, Any]:
    """The codec's validated parameters, with the operator's setup: a command-line codec
    must be declared on the server, and a checkpoint must lie in its weights folder. Raises
    ValueError in plain words."""
    return registry.validate(codec, params, get_settings().operator_setup)


def plan_run(session: Session, data: RunCreate) -> RunPlan:
    """Every check of a run request; nothing is written."""
    dataset = dataset_service.get_dataset(session, data.dataset_id)
    if data.codec == "imported":
        raise InvalidInput("imported reconstructions come from a manifest: `miscomp runs import`")
    try:
        params = validate_params(data.codec, data.params)
        jpeg_params = registry.validate("jpeg", data.jpeg_params)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    jpeg_params.pop("quality", None)  # the rate match chooses the quality
    query = select(Image.id).where(Image.dataset_id == dataset.id).order_by(Image.id)
    if data.image_ids is not None:
        query = query.where(Image.id.in_(data.image_ids))
    image_ids = list(session.scalars(query))
    if data.image_ids is not None and len(image_ids) != len(set(data.image_ids)):
        missing = sorted(set(data.image_ids) - set(image_ids))
        raise InvalidInput(f"images not in dataset {dataset.name!r}: {missing[:10]}")
    if not image_ids:
        raise InvalidInput(f"dataset {dataset.name!r} has no images")
    return RunPlan(data, params, jpeg_params, image_ids)


def queue_run(
    session: Session, plan: RunPlan, *, actor: User | None, sweep_id: int | None = None
) -> CodecRun:
    data = plan.data
    neural = registry.is_neural(data.codec)
    run = CodecRun(
        dataset_id=data.dataset_id,
        codec=data.codec,
        params=plan.params,
        seeds=sorted(set(data.seeds)),
        image_ids=data.image_ids,
        match_jpeg=neural if data.match_jpeg is None else data.match_jpeg,
        jpeg_params=plan.jpeg_params,
        maps=list(dict.fromkeys(data.maps)),
        queue="gpu" if neural else "cpu",
        created_by_id=actor.id if actor else None,
        sweep_id=sweep_id,
    )
    session.add(run)
    session.flush()
    session.execute(
        insert(CodecResult),
        [
            {
                "run_id": run.id,
                "image_id": image_id,
                "seed": seed,
                "status": "pending",
                "metrics": {},
                "maps": {},
                "environment": {},
                "notes": [],
                "jpeg_metrics": {},
                "attempts": 0,
            }
            for image_id in plan.image_ids
            for seed in run.seeds
        ],
    )
    _enqueue(session, run, statuses=("pending",))
    return run


def create_run(session: Session, data: RunCreate, *, actor: User | None) -> CodecRun:
    return queue_run(session, plan_run(session, data), actor=actor)


def codec_parameters() -> dict[str, list[Parameter]]:
    """What a run of each codec may set, for the generated form of the New run page."""
    operator = get_settings().operator_setup
    return {name: registry.parameters(name, operator) for name in registry.names()}


def codec_availability() -> list[registry.Availability]:
    """Every registered codec, whether it can run here and why not, with the operator's
    declarations (command-line codecs, weights folder)."""
    operator = get_settings().operator_setup
    return [registry.availability(name, operator) for name in registry.names()]


def _enqueue(session: Session, run: CodecRun, *, statuses: tuple[str, ...]) -> None:
    ids = session.scalars(
        select(CodecResult.id)
        .where(CodecResult.run_id == run.id, CodecResult.status.in_(statuses))
        .order_by(CodecResult.id)
    )
    for result_id in ids:
        enqueue_after_commit(session, task_names.ENCODE, result_id, queue=run.queue)


def get_run(session: Session, run_id: int) -> CodecRun:
    run = session.get(CodecRun, run_id)
    if run is None:
        raise NotFound(f"codec run {run_id} not found")
    return run


def list_runs(
    session: Session, *, dataset_id: int | None = None, sweep_id: int | None = None
) -> list[CodecRun]:
    query = select(CodecRun).order_by(CodecRun.id.desc())
    if dataset_id is not None:
        query = query.where(CodecRun.dataset_id == dataset_id)
    if sweep_id is not None:
        query = query.where(CodecRun.sweep_id == sweep_id)
    return list(session.scalars(query))


def progress(session: Session, run: CodecRun) -> RunProgress:
    counts = dict(
        session.execute(
            select(CodecResult.status, func.count())
            .where(CodecResult.run_id == run.id)
            .group_by(CodecResult.status)
        ).all()
    )
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in RESULT_FINAL_STATUSES)
    rate = eta = None
    if run.started_at is not None and finished:
        first_start = (
            session.scalar(
                select(func.min(CodecResult.started_at)).where(CodecResult.run_id == run.id)
            )
            or run.started_at
        )
        last_end = run.finished_at or utcnow()
        elapsed = (last_end - first_start).total_seconds()
        if elapsed > 0:
            rate = finished / elapsed
            active = total - finished
            eta = active / rate if active else 0.0
    return RunProgress(
        total=total,
        done=counts.get("done", 0),
        failed=counts.get("failed", 0),
        invalid=counts.get("invalid", 0),
        cancelled=counts.get("cancelled", 0),
        active=sum(counts.get(s, 0) for s in RESULT_ACTIVE_STATUSES),
        images_per_s=rate,
        eta_s=eta,
    )


def cancel_run(session: Session, run_id: int) -> CodecRun:
    run = get_run(session, run_id)
    if run.status in RUN_ENDED_STATUSES:
        raise Conflict(f"run {run_id} is already {run.status}")
    run.status = "cancelled"
    run.finished_at = utcnow()
    # Results a worker holds right now finish their step and then see the cancellation.
    session.execute(
        update(CodecResult)
        .where(CodecResult.run_id == run.id, CodecResult.status.in_(("pending", "encoded")))
        .values(status="cancelled", finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return run


def retry_run(session: Session, run_id: int) -> int:
    """Queue the failed and invalid results of a run again; returns how many."""
    run = get_run(session, run_id)
    retried = session.execute(  # type: ignore[attr-defined]
        update(CodecResult)
        .where(CodecResult.run_id == run.id, CodecResult.status.in_(("failed", "invalid")))
        .values(status="pending", error=None, claimed_by=None, claimed_at=None, finished_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if retried:
        run.status = "running" if run.started_at else "queued"
        run.finished_at = None
        session.flush()
        _enqueue(session, run, statuses=("pending",))
    return int(retried)


def _ordering(order: ResultOrder) -> list[ColumnElement[Any]]:
    """ORDER BY for a run's results: the chosen figure (missing ones last, either way), then
    image and seed, so that the order is total and stepping through it is stable."""
    tail: list[ColumnElement[Any]] = [
        CodecResult.image_id.asc(),
        CodecResult.seed.asc(),
        CodecResult.id.asc(),
    ]
    if order.key == result_order.IMAGE:
        if order.descending:
            return [CodecResult.image_id.desc(), CodecResult.seed.desc(), CodecResult.id.desc()]
        return tail
    figure: ColumnElement[Any] = (
        CodecResult.bpp.expression
        if order.key == result_order.BPP
        else CodecResult.metrics[result_order.BY_KEY[order.key].field].as_float()
    )
    first = figure.desc() if order.descending else figure.asc()
    return [first.nulls_last(), *tail]


def results(
    session: Session, run_id: int, order: ResultOrder | None = None
) -> list[tuple[CodecResult, Image]]:
    rows = session.execute(
        select(CodecResult, Image)
        .join(Image, Image.id == CodecResult.image_id)
        .where(CodecResult.run_id == run_id)
        .order_by(*_ordering(order or ResultOrder()))
    )
    return [(result, image) for result, image in rows]


def get_result(session: Session, run_id: int, result_id: int) -> CodecResult:
    """A result of a run; NotFound if there is none, or it belongs to another run."""
    result = session.get(CodecResult, result_id)
    if result is None or result.run_id != run_id:
        raise NotFound(f"run {run_id} has no result {result_id}")
    return result


@dataclass(frozen=True)
class Neighbours:
    """Where a result sits among its run's viewable results (those with a reconstruction)
    in an order: 1-based position, how many, and the ids before and after it (None at
    either end). Position 0 for a result that is not viewable (no reconstruction yet)."""

    position: int
    total: int
    previous_id: int | None
    next_id: int | None


def neighbours(session: Session, result: CodecResult, order: ResultOrder) -> Neighbours:
    """One query: the run's viewable results numbered in ``order`` by window functions, and
    the row of ``result`` read from them."""
    ordering = _ordering(order)
    numbered = (
        select(
            CodecResult.id.label("id"),
            func.row_number().over(order_by=ordering).label("position"),
            func.count().over().label("total"),
            func.lag(CodecResult.id).over(order_by=ordering).label("previous_id"),
            func.lead(CodecResult.id).over(order_by=ordering).label("next_id"),
        )
        .where(CodecResult.run_id == result.run_id, CodecResult.recon_key.is_not(None))
        .subquery()
    )
    row = session.execute(select(numbered).where(numbered.c.id == result.id)).one_or_none()
    if row is None:
        total = session.scalar(
            select(func.count()).where(
                CodecResult.run_id == result.run_id, CodecResult.recon_key.is_not(None)
            )
        )
        return Neighbours(0, int(total or 0), None, None)
    return Neighbours(int(row.position), int(row.total), row.previous_id, row.next_id)


@dataclass(frozen=True)
class ImageResult:
    """A result of one image in some run, for the image's page."""

    result: CodecResult
    run: CodecRun


def image_results(session: Session, image_id: int) -> list[ImageResult]:
    """Every run's results of an image: newest run first, then by seed."""
    rows = session.execute(
        select(CodecResult, CodecRun)
        .join(CodecRun, CodecRun.id == CodecResult.run_id)
        .where(CodecResult.image_id == image_id)
        .order_by(CodecRun.id.desc(), CodecResult.seed)
    )
    return [ImageResult(result, run) for result, run in rows]


def rd_points(session: Session, dataset_id: int, *, image_id: int | None = None) -> list[RunPoints]:
    """Per-image figures of every run of a dataset (or of one of its images), for its
    rate-distortion plot."""
    query = (
        select(CodecRun, CodecResult, CodecSweep.param)
        .join(CodecResult, CodecResult.run_id == CodecRun.id)
        .outerjoin(CodecSweep, CodecSweep.id == CodecRun.sweep_id)
        .where(CodecRun.dataset_id == dataset_id, CodecResult.status == "done")
        .order_by(CodecRun.id)
    )
    if image_id is not None:
        query = query.where(CodecResult.image_id == image_id)
    by_run: dict[int, RunPoints] = {}
    for run, result, sweep_param in session.execute(query):
        points = by_run.setdefault(
            run.id, RunPoints(run.codec, run.params, [], [], sweep_param=sweep_param)
        )
        if result.bpp is not None:
            points.points.append(
                (result.bpp, result.metrics.get("psnr_rgb"), result.metrics.get("ms_ssim_rgb"))
            )
        if result.jpeg_bpp is not None and result.jpeg_status == "matched":
            points.jpeg_points.append(
                (
                    result.jpeg_bpp,
                    result.jpeg_metrics.get("psnr_rgb"),
                    result.jpeg_metrics.get("ms_ssim_rgb"),
                )
            )
    return list(by_run.values())
