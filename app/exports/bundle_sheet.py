"""What an export bundle's datasheet says, read from the database: the study's design, its
codec runs, source datasets and counts, beside its report (``datasheet.Datasheet``; the
Markdown is written by the pure ``app.domain.exports.datasheet``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset, Image
from app.db import utcnow
from app.domain import agreement
from app.domain import panes as pane_names
from app.domain.exports import bundle_layout as layout
from app.domain.exports import formats
from app.domain.exports.datasheet_input import Counts, DatasetSheet, Datasheet, RunSheet
from app.domain.rd import curve_label
from app.exports.records import ExportOptions, count_records, study_section
from app.exports.sections import weights_sha256
from app.studies import queries, results, taxonomies
from app.studies.methods import registry as method_registry
from app.studies.models import (
    Adjudication,
    Annotation,
    LabelSource,
    Study,
    StudyItem,
)


def gather_datasheet(
    session: Session,
    study: Study,
    report: dict[str, Any],
    options: ExportOptions,
    *,
    include_originals: bool,
) -> Datasheet:
    taxonomy = taxonomies.of_study(session, study)
    runs = [_run_sheet(session, run_id, "compared") for run_id in study.run_ids]
    if study.versus_run_id is not None:
        runs.append(_run_sheet(session, study.versus_run_id, "versus"))
    return Datasheet(
        study=study_section(session, study),
        verdicts=tuple(taxonomy.verdicts),
        items_target=study.items_target,
        lease_s=study.lease_s,
        planted_controls=study.planted_controls,
        region_iou=study.region_iou,
        simulated=study.label_source == LabelSource.SIMULATED,
        simulation=study.simulation,
        method_descriptions=_method_descriptions(study.methods),
        runs=tuple(run for run in runs if run is not None),
        datasets=_datasets(session, study.id),
        counts=_counts(session, study),
        report=report,
        statistics=results.STATISTICS,
        prevalence_groups=tuple(results.prevalence_groups(report)),
        replicates=agreement.BOOTSTRAP_REPLICATES,
        record_files=tuple(
            (name, layout.record_member(name, formats.get(name).suffix)) for name in formats.names()
        ),
        crops=_crop_count(session, study.id),
        originals=include_originals,
        all_revisions=options.all_revisions,
        names=options.names,
        exported_at=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
    )


def _method_descriptions(names: list[str]) -> dict[str, str]:
    described = {}
    for name in names:
        try:
            described[name] = method_registry.get(name).description
        except method_registry.UnknownMethod:
            continue  # a method this installation no longer has: the datasheet says so
    return described


def _run_sheet(session: Session, run_id: int, role: str) -> RunSheet | None:
    """The run's settings and what its finished results record (bpp, JPEG qualities,
    weights, devices), read a column set at a time."""
    found = session.execute(
        select(CodecRun, Dataset.name)
        .join(Dataset, Dataset.id == CodecRun.dataset_id)
        .where(CodecRun.id == run_id)
    ).first()
    if found is None:
        return None  # deleted since the study was made
    run, dataset = found
    bpps: list[float] = []
    qualities: list[int] = []
    weights: set[str] = set()
    devices: set[str] = set()
    finished = session.execute(
        select(
            CodecResult.bpp, CodecResult.jpeg_quality, CodecResult.device, CodecResult.environment
        )
        .where(CodecResult.run_id == run_id, CodecResult.status == "done")
        .execution_options(yield_per=1000)
    )
    count = 0
    for bpp, quality, device, environment in finished:
        count += 1
        if bpp is not None:
            bpps.append(bpp)
        if quality is not None:
            qualities.append(quality)
        if device:
            devices.add(device)
        if weights_of := weights_sha256(environment or {}):
            weights.add(weights_of)
    return RunSheet(
        id=run.id,
        role=role,
        codec=run.codec,
        label=curve_label(run.codec, run.params),
        params=run.params,
        dataset=dataset,
        seeds=tuple(run.seeds),
        match_jpeg=run.match_jpeg,
        jpeg_params=run.jpeg_params,
        results=count,
        bpp_range=(min(bpps), max(bpps)) if bpps else None,
        jpeg_quality_range=(min(qualities), max(qualities)) if qualities else None,
        weights_sha256=tuple(sorted(weights)),
        devices=tuple(sorted(devices)),
    )


def _datasets(session: Session, study_id: int) -> tuple[DatasetSheet, ...]:
    rows = session.execute(
        select(Dataset.name, Dataset.license, Dataset.source, func.count(func.distinct(Image.id)))
        .join(Image, Image.dataset_id == Dataset.id)
        .join(StudyItem, StudyItem.image_id == Image.id)
        .where(StudyItem.study_id == study_id)
        .group_by(Dataset.id, Dataset.name, Dataset.license, Dataset.source)
        .order_by(Dataset.name)
    ).all()
    return tuple(DatasetSheet(name, lic, source, int(n)) for name, lic, source, n in rows)


def _counts(session: Session, study: Study) -> Counts:
    items = session.execute(
        select(StudyItem.kind, StudyItem.method, func.count())
        .where(StudyItem.study_id == study.id)
        .group_by(StudyItem.kind, StudyItem.method)
        .order_by(StudyItem.kind, StudyItem.method)
    ).all()
    annotations, raters, late = session.execute(
        select(
            func.count(),
            func.count(func.distinct(Annotation.user_id)),
            func.count().filter(Annotation.late.is_(True)),
        ).where(Annotation.study_id == study.id)
    ).one()
    counted = session.scalar(
        select(func.count())
        .select_from(Annotation)
        .join(StudyItem, StudyItem.id == Annotation.item_id)
        .where(Annotation.study_id == study.id, queries.is_counted())
    )
    every_revision = count_records(session, study, ExportOptions(all_revisions=True))
    adjudicated = session.execute(
        select(Adjudication.verdict, func.count())
        .where(Adjudication.study_id == study.id)
        .group_by(Adjudication.verdict)
        .order_by(Adjudication.verdict)
    ).all()
    return Counts(
        items=tuple((kind, method, int(n)) for kind, method, n in items),
        raters=int(raters),
        annotations=int(annotations),
        revisions=every_revision - int(annotations),
        counted=int(counted or 0),
        late=int(late),
        adjudications=tuple((verdict, int(n)) for verdict, n in adjudicated),
    )


def _crop_count(session: Session, study_id: int) -> int:
    """The panes the bundle's ``crops/`` holds: every item's rendered panes, by name."""
    assets = session.scalars(
        select(StudyItem.assets)
        .where(StudyItem.study_id == study_id)
        .execution_options(yield_per=1000)
    )
    return sum(1 for panes in assets for pane in panes if pane in pane_names.ALL)
