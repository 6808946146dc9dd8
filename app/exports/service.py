"""Exporting a study (``records.py``) or a codec run (``runs.py``): records through a format
(``app.domain.exports``) into a file that appears only when it is complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from app.codec_runs.models import CodecRun
from app.domain.exports import formats
from app.errors import InvalidInput
from app.exports.records import ExportOptions, study_records
from app.exports.runs import run_columns, run_records
from app.studies.models import Study


def export_format(name: str) -> formats.ExportFormat:
    """The registered format, or a user's error naming the known ones."""
    try:
        return formats.get(name)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def run_export_format(name: str) -> formats.ExportFormat:
    """A format a codec run exports to (any but the study-only ones), or a user's error."""
    chosen = export_format(name)
    if chosen.studies_only:
        known = ", ".join(formats.names(studies=False))
        raise InvalidInput(f"the {name} format exports studies only; a run exports to: {known}")
    return chosen


def write_atomically(path: Path, write: Callable[[os.PathLike[str]], int]) -> int:
    """``write`` fills a temporary file beside ``path``, renamed to ``path`` only once it
    returned: an interrupted export never leaves a file that looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        written = write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written


def export_study(
    session: Session,
    study: Study,
    out: Path,
    *,
    format_name: str,
    options: ExportOptions = ExportOptions(),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Writes the study's records to ``out``; returns how many."""
    chosen = export_format(format_name)

    def write(temporary: os.PathLike[str]) -> int:
        with open(temporary, "wb") as handle:
            return chosen.write(study_records(session, study, options), handle, progress)

    return write_atomically(out, write)


def export_run(
    session: Session,
    run: CodecRun,
    out: Path,
    *,
    format_name: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Writes one record per result of the run to ``out``; returns how many."""
    chosen = run_export_format(format_name)
    fields = run_columns(session, run.id).fields

    def write(temporary: os.PathLike[str]) -> int:
        with open(temporary, "wb") as handle:
            return chosen.write(run_records(session, run), handle, progress, fields)

    return write_atomically(out, write)
