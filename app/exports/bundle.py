"""A study's export bundle: one zip with every record format, the crop images, the results
report with its tables and figures, a datasheet and, on request, the full originals with
everything ``miscomp studies import`` needs to rebuild the study (``bundle_rebuild.py``;
``app/domain/exports/bundle_layout.py`` says where each lies).

Streamed: each record format writes straight into its zip member, crops are read one at a
time, and the crop table goes through an anonymous temporary file (a zip takes one member
at a time, and the crops are written as the table's rows are made), so memory does not grow
with the study. The zip is a temporary file until it is complete (``write_atomically``).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Image
from app.domain import panes as pane_names
from app.domain.exports import bundle_layout as layout
from app.domain.exports import formats
from app.domain.exports.crop_table import CropRow, write_crop_table
from app.domain.exports.datasheet import datasheet
from app.domain.exports.report_tables import (
    PREVALENCE_COLUMNS,
    agreement_columns,
    agreement_rows,
    csv_bytes,
    prevalence_rows,
)
from app.exports.bundle_rebuild import write_rebuild_members
from app.exports.bundle_sheet import gather_datasheet
from app.exports.records import ExportOptions, count_records, rater_pseudonyms, study_records
from app.exports.service import write_atomically
from app.storage import MediaStorage
from app.studies import adjudication, gallery, report_figures, results
from app.studies.models import Study, StudyAsset, StudyItem
from app.users.models import User

ITEMS_PER_CHUNK = 200
"""Items read at once for their crops (their rows, not their PNGs, which are read one by one)."""


def bundle_steps(session: Session, study: Study, options: ExportOptions) -> int:
    """The progress a bundle reports, in steps: each record once per record format, then
    each item (its crops)."""
    items = session.scalar(select(func.count()).where(StudyItem.study_id == study.id)) or 0
    return count_records(session, study, options) * len(formats.names()) + int(items)


def export_bundle(
    session: Session,
    storage: MediaStorage,
    study: Study,
    out: Path,
    *,
    options: ExportOptions = ExportOptions(),
    include_originals: bool = False,
    progress: formats.Progress | None = None,
) -> int:
    """Writes the study's bundle to ``out`` (replaced only when complete); returns how many
    records each record file holds. ``progress`` gets the steps done (``bundle_steps``)."""
    report = public_report(
        session, study, results.report_of_current_labels(session, study), options
    )
    sheet = gather_datasheet(session, study, report, options, include_originals=include_originals)
    steps = _Steps(progress)

    def write(temporary: Path) -> int:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr(layout.README, datasheet(sheet))
            written = _write_records(session, study, options, bundle, steps)
            _write_crops(session, storage, study.id, bundle, steps, temporary.parent)
            _write_results(bundle, str(sheet.study["name"]), report)
            if include_originals:
                _write_originals(session, storage, study.id, bundle)
                write_rebuild_members(session, storage, study, options, bundle)
        return written

    return write_atomically(out, write)


class _Steps:
    """Steps done so far, across the bundle's parts, for one progress callback."""

    def __init__(self, progress: formats.Progress | None) -> None:
        self.progress, self.before = progress, 0

    def within(self, done: int) -> None:
        """``done`` steps of the part being written."""
        if self.progress is not None:
            self.progress(self.before + done)

    def finished(self, done: int) -> None:
        """The part being written ended after ``done`` steps."""
        self.before += done
        self.within(0)


def _write_records(
    session: Session,
    study: Study,
    options: ExportOptions,
    bundle: zipfile.ZipFile,
    steps: _Steps,
) -> int:
    """Each record format into its member, as the single-format export writes it."""
    written = 0
    for name in formats.names():
        chosen = formats.get(name)
        member = layout.record_member(name, chosen.suffix)
        with bundle.open(member, "w", force_zip64=True) as handle:
            # A zip member typed as IO[bytes]: a write-only binary file, all a writer uses.
            records = study_records(session, study, options)
            written = chosen.write(records, cast(BinaryIO, handle), steps.within)
        steps.finished(written)
    return written


def _write_crops(
    session: Session,
    storage: MediaStorage,
    study_id: int,
    bundle: zipfile.ZipFile,
    steps: _Steps,
    scratch: Path,
) -> None:
    """Every pane of every item as ``crops/<item>/<pane>.png`` and as a row of the crop
    table, which is written to a temporary file beside the bundle, then copied in."""
    with tempfile.TemporaryFile(dir=scratch, prefix=".crops-") as table:
        rows = _crop_rows(session, storage, study_id, bundle, steps)
        write_crop_table(rows, table)
        table.seek(0)
        stored = zipfile.ZipInfo(layout.CROP_TABLE)
        stored.compress_type = zipfile.ZIP_STORED  # PNGs and Zstandard: nothing to gain
        with bundle.open(stored, "w", force_zip64=True) as member:
            shutil.copyfileobj(table, member, 1 << 20)


def _crop_rows(
    session: Session,
    storage: MediaStorage,
    study_id: int,
    bundle: zipfile.ZipFile,
    steps: _Steps,
) -> Iterator[CropRow]:
    """The crop table's rows, item by item; each pane's PNG also goes into the bundle as it
    is read (so each is read once)."""
    item_ids = list(
        session.scalars(
            select(StudyItem.id).where(StudyItem.study_id == study_id).order_by(StudyItem.id)
        )
    )
    done = 0
    for start in range(0, len(item_ids), ITEMS_PER_CHUNK):
        chunk = item_ids[start : start + ITEMS_PER_CHUNK]
        rows = session.execute(
            select(StudyItem, Image, CodecResult, CodecRun)
            .join(Image, Image.id == StudyItem.image_id)
            .outerjoin(CodecResult, CodecResult.id == StudyItem.result_id)
            .outerjoin(CodecRun, CodecRun.id == CodecResult.run_id)
            .where(StudyItem.id.in_(chunk))
            .order_by(StudyItem.id)
        ).all()
        tokens = [t for item, *_ in rows for p, t in item.assets.items() if p in pane_names.ALL]
        keys = dict(
            session.execute(
                select(StudyAsset.token, StudyAsset.storage_key).where(StudyAsset.token.in_(tokens))
            ).all()
        )
        for item, image, result, run in rows:
            for pane in pane_names.ALL:
                token = item.assets.get(pane)
                if token is None or token not in keys:
                    continue
                png = storage.read(keys[token])
                member = layout.crop_member(item.id, pane)
                bundle.writestr(member, png, compress_type=zipfile.ZIP_STORED)
                yield CropRow(
                    item_id=item.id,
                    pane=pane,
                    png=png,
                    path=member,
                    kind=item.kind,
                    method=item.method,
                    image_id=image.id,
                    image_sha256=image.pixels_sha256,
                    x=item.x,
                    y=item.y,
                    size=item.size,
                    share_percent=item.share_percent,
                    codec=run.codec if run else None,
                    codec_params=json.dumps(run.params, sort_keys=True) if run else None,
                    bpp=result.bpp if result else None,
                    jpeg_bpp=result.jpeg_bpp if result else None,
                )
            done += 1
            steps.within(done)
        session.expunge_all()  # constant memory: nothing of this chunk is needed again
    steps.finished(done)


def _write_results(bundle: zipfile.ZipFile, study_name: str, report: dict[str, Any]) -> None:
    """The report, its two tables and the figures of the results page."""
    bundle.writestr(layout.REPORT, json.dumps(report, ensure_ascii=False, indent=1))
    statistics = results.STATISTICS
    bundle.writestr(
        layout.AGREEMENT_CSV,
        csv_bytes(agreement_rows(report, statistics), agreement_columns(statistics)),
    )
    bundle.writestr(layout.PREVALENCE_CSV, csv_bytes(prevalence_rows(report), PREVALENCE_COLUMNS))
    for fmt in layout.FIGURE_FORMATS:
        agreement = report_figures.agreement_figure(
            report, title=f"{study_name}: agreement per question", fmt=fmt
        )
        bundle.writestr(layout.figure_member(layout.AGREEMENT_FIGURE, fmt), agreement)
        prevalence = report_figures.prevalence_figure(
            report, "miscompression", title=f"{study_name}: random crops", fmt=fmt
        )
        bundle.writestr(layout.figure_member(layout.PREVALENCE_FIGURE, fmt), prevalence)


def _write_originals(
    session: Session, storage: MediaStorage, study_id: int, bundle: zipfile.ZipFile
) -> None:
    """Each original image of the study's items once, copied from storage in chunks."""
    used = select(StudyItem.image_id).where(StudyItem.study_id == study_id)
    originals = session.execute(
        select(Image.pixels_sha256, Image.storage_key)
        .where(Image.id.in_(used))
        .order_by(Image.pixels_sha256)
    ).all()
    seen: set[str] = set()
    for pixels_sha256, key in originals:
        if pixels_sha256 in seen:
            continue  # the same pixels imported twice (two datasets) are one file
        seen.add(pixels_sha256)
        info = zipfile.ZipInfo(layout.original_member(pixels_sha256))
        info.compress_type = zipfile.ZIP_STORED
        with (
            storage.local_path(key).open("rb") as source,
            bundle.open(info, "w", force_zip64=True) as member,
        ):
            shutil.copyfileobj(source, member, 1 << 20)


_RATER_PAIR = re.compile(r"^(cohen_kappa )?(\d+) / (\d+)(:.*)?$", re.DOTALL)


def public_report(
    session: Session, study: Study, report: dict[str, Any], options: ExportOptions
) -> dict[str, Any]:
    """The report as the bundle holds it: raters by their pseudonyms (usernames beside them
    only with ``options.names``), as in the records, and without the cached item lists of
    the adjudication queue and the gallery, which only serve those pages."""
    pseudonyms = rater_pseudonyms(session, study.id)
    usernames: dict[int, str] = dict(
        session.execute(select(User.id, User.username).where(User.id.in_(pseudonyms))).all()
    )
    by_username = {name: pseudonyms[user_id] for user_id, name in usernames.items()}

    def pair(text: str) -> str:
        """``12 / 15`` (user ids, as the statistics name raters) as ``R01 / R02``."""
        found = _RATER_PAIR.match(text)
        if found is None:
            return text
        prefix, first, second, rest = found.groups()
        named = [pseudonyms.get(int(user_id), user_id) for user_id in (first, second)]
        return f"{prefix or ''}{named[0]} / {named[1]}{rest or ''}"

    public = {
        key: value
        for key, value in report.items()
        if key not in (adjudication.REPORT_KEY, gallery.REPORT_KEY)
    }
    public["questions"] = [
        {
            **question,
            "cohen_kappa_pairs": {
                pair(k): v for k, v in (question.get("cohen_kappa_pairs") or {}).items()
            },
            "notes": [pair(note) for note in question.get("notes") or []],
        }
        for question in report.get("questions", [])
    ]
    public["raters"] = [
        {
            **entry,
            "rater": by_username.get(entry["rater"], entry["rater"]),
            **({"name": entry["rater"]} if options.names else {}),
        }
        for entry in report.get("raters", [])
    ]
    return public
