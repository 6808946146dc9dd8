"""What a bundle with the originals holds besides them, so that ``miscomp studies import``
(``bundle_import.py``) can rebuild the study in another instance: the study's design, its
runs and datasets, every item, image, used codec result with its reconstruction and matched
JPEG, every lease and every revision (``app/domain/exports/bundle_layout.py`` names them).

Written a chunk of rows at a time, like the rest of the bundle. Raters appear by their
pseudonyms only (their usernames too with ``names``), as in the records.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, BinaryIO, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset, Image
from app.domain import panes as pane_names
from app.domain.exports import bundle_layout as layout
from app.domain.exports import formats
from app.domain.rd import source_codec
from app.exports.records import ExportOptions, rater_pseudonyms, study_records
from app.storage import MediaStorage
from app.studies import taxonomies
from app.studies.models import Adjudication, Assignment, Study, StudyItem
from app.users.models import User

ROWS_PER_CHUNK = 500

STUDY_FIELDS = (
    "name",
    "instructions",
    "status",
    "crop_sizes",
    "methods",
    "method_params",
    "items_target",
    "quotas",
    "planted_controls",
    "raters_per_item",
    "per_rater_cap",
    "lease_s",
    "blind",
    "panes",
    "seed",
    "region_iou",
    "label_source",
    "simulation",
    "proposal_report",
)
"""The study row's design fields, copied as they are (ids and owners are not)."""

IMAGE_FIELDS = (
    "filename",
    "source_sha256",
    "width",
    "height",
    "format",
    "original_mode",
    "source_bytes",
    "notes",
)
RESULT_FIELDS = (
    "seed",
    "status",
    "bits",
    "bpp",
    "bits_source",
    "encode_s",
    "decode_s",
    "device",
    "metrics",
    "environment",
    "notes",
    "jpeg_status",
    "jpeg_target_bpp",
    "jpeg_quality",
    "jpeg_bpp",
    "jpeg_encodes",
    "jpeg_metrics",
)
ITEM_FIELDS = (
    "id",
    "position",
    "kind",
    "method",
    "result_id",
    "x",
    "y",
    "size",
    "share_percent",
    "score",
    "inclusion_probability",
    "evidence",
)


def write_rebuild_members(
    session: Session,
    storage: MediaStorage,
    study: Study,
    options: ExportOptions,
    bundle: zipfile.ZipFile,
) -> None:
    """Every member the import needs beyond the originals and the crops."""
    item_rows = select(StudyItem).where(StudyItem.study_id == study.id).order_by(StudyItem.id)
    used_images = select(StudyItem.image_id).where(StudyItem.study_id == study.id)
    used_results = select(StudyItem.result_id).where(
        StudyItem.study_id == study.id, StudyItem.result_id.is_not(None)
    )
    run_ids = {*study.run_ids, *([study.versus_run_id] if study.versus_run_id else [])}
    runs = list(session.scalars(select(CodecRun).where(CodecRun.id.in_(run_ids))))
    dataset_ids = {run.dataset_id for run in runs} | set(
        session.scalars(select(Image.dataset_id).where(Image.id.in_(used_images)))
    )
    datasets = {
        d.id: d for d in session.scalars(select(Dataset).where(Dataset.id.in_(dataset_ids)))
    }
    bundle.writestr(layout.STUDY, _dumps(_study_document(session, study, runs, datasets)))
    images = list(
        session.scalars(select(Image).where(Image.id.in_(used_images)).order_by(Image.id))
    )
    _write_lines(bundle, layout.IMAGES, (_image_line(i, datasets) for i in images))
    shown = {image.id: (image.pixels_sha256, datasets[image.dataset_id].name) for image in images}
    results = session.scalars(
        select(CodecResult).where(CodecResult.id.in_(used_results)).order_by(CodecResult.id)
    )
    # The files first: a zip takes one member at a time.
    lines = list(_result_lines(storage, results, shown, bundle))
    _write_lines(bundle, layout.RESULTS, lines)
    decisions = {
        d.item_id: d
        for d in session.scalars(select(Adjudication).where(Adjudication.study_id == study.id))
    }
    adjudicators = dict(
        session.execute(
            select(User.id, User.username).where(
                User.id.in_({d.adjudicator_id for d in decisions.values()})
            )
        ).all()
    )
    items = session.scalars(item_rows).yield_per(ROWS_PER_CHUNK)
    _write_lines(
        bundle,
        layout.ITEMS,
        (_item_line(item, shown, decisions.get(item.id), adjudicators, options) for item in items),
    )
    _write_lines(bundle, layout.LEASES, _lease_lines(session, study.id, options))
    if not options.all_revisions:
        # Only the current revisions are in annotations.jsonl; the import needs them all.
        member = layout.revisions_member(all_revisions=False)
        every = ExportOptions(all_revisions=True, names=options.names)
        with bundle.open(member, "w", force_zip64=True) as handle:
            formats.get("jsonl").write(
                study_records(session, study, every), cast(BinaryIO, handle), None
            )


def _study_document(
    session: Session, study: Study, runs: list[CodecRun], datasets: dict[int, Dataset]
) -> dict[str, Any]:
    taxonomy = taxonomies.of_study(session, study)
    return {
        "format": layout.REBUILD_FORMAT,
        "study": {field: getattr(study, field) for field in STUDY_FIELDS},
        "run_ids": list(study.run_ids),
        "versus_run_id": study.versus_run_id,
        "taxonomy": {
            "name": taxonomy.name,
            "version": taxonomy.version,
            "categories": taxonomy.categories,
            "verdicts": taxonomy.verdicts,
        },
        "runs": [_run_entry(run, datasets[run.dataset_id]) for run in runs],
        "datasets": [
            {
                "name": d.name,
                "description": d.description,
                "source": d.source,
                "license": d.license,
            }
            for d in datasets.values()
        ],
    }


def _run_entry(run: CodecRun, dataset: Dataset) -> dict[str, Any]:
    codec, params = source_codec(run.codec, run.params)
    return {
        "id": run.id,
        "dataset": dataset.name,
        "codec": codec,
        "params": params,
        "seeds": list(run.seeds),
        "match_jpeg": run.match_jpeg,
        "jpeg_params": run.jpeg_params,
        "maps": list(run.maps),
    }


def _image_line(image: Image, datasets: dict[int, Dataset]) -> dict[str, Any]:
    line: dict[str, Any] = {
        "dataset": datasets[image.dataset_id].name,
        "sha256": image.pixels_sha256,
    }
    line.update({field: getattr(image, field) for field in IMAGE_FIELDS})
    return line


def _result_lines(
    storage: MediaStorage,
    results: Iterable[CodecResult],
    shown: dict[int, tuple[str, str]],
    bundle: zipfile.ZipFile,
) -> Iterator[dict[str, Any]]:
    """Each result's line; its reconstruction and matched JPEG go into the bundle as read."""
    for result in results:
        line: dict[str, Any] = {
            "id": result.id,
            "run_id": result.run_id,
            "image_sha256": shown[result.image_id][0],
        }
        line.update({field: getattr(result, field) for field in RESULT_FIELDS})
        files = (
            ("reconstruction", result.recon_key, layout.reconstruction_member(result.id)),
            ("matched_jpeg", result.jpeg_key, layout.matched_jpeg_member(result.id)),
        )
        for name, key, member in files:
            line[name] = member if key else None
            if key:
                bundle.writestr(member, storage.read(key), compress_type=zipfile.ZIP_STORED)
        yield line


def _item_line(
    item: StudyItem,
    shown: dict[int, tuple[str, str]],
    decision: Adjudication | None,
    adjudicators: dict[int, str],
    options: ExportOptions,
) -> dict[str, Any]:
    line = {field: getattr(item, field) for field in ITEM_FIELDS}
    sha256, dataset = shown[item.image_id]
    line.update(
        image_sha256=sha256,
        dataset=dataset,
        panes=[pane for pane in pane_names.ALL if pane in item.assets],
        adjudication=None,
    )
    if decision is not None:
        adjudicator = adjudicators.get(decision.adjudicator_id or 0)
        line["adjudication"] = {
            "verdict": decision.verdict,
            "categories": list(decision.categories),
            "modifiers": list(decision.modifiers),
            "note": decision.note,
            "decided_at": decision.decided_at,
            "adjudicator": adjudicator if options.names else None,
        }
    return line


def _lease_lines(
    session: Session, study_id: int, options: ExportOptions
) -> Iterator[dict[str, Any]]:
    """In the order raters took their items, so the import gives the same pseudonyms."""
    pseudonyms = rater_pseudonyms(session, study_id)
    usernames: dict[int, str] = {}
    if options.names:
        statement = select(User.id, User.username).where(User.id.in_(pseudonyms))
        usernames = dict(session.execute(statement).all())
    leases = session.scalars(
        select(Assignment).where(Assignment.study_id == study_id).order_by(Assignment.id)
    ).yield_per(ROWS_PER_CHUNK)
    for lease in leases:
        yield {
            "item_id": lease.item_id,
            "rater": pseudonyms[lease.user_id],
            "name": usernames.get(lease.user_id),
            "status": lease.status,
            "leased_at": lease.leased_at,
            "lease_expires_at": lease.lease_expires_at,
            "finished_at": lease.finished_at,
            "pane_map": dict(lease.pane_map),
        }


def _write_lines(bundle: zipfile.ZipFile, member: str, lines: Iterable[dict[str, Any]]) -> None:
    with bundle.open(member, "w", force_zip64=True) as handle:
        for line in lines:
            handle.write(_dumps(line) + b"\n")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=_time, sort_keys=True).encode()


def _time(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
