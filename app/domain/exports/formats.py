"""Export formats: each writes a stream of records (``schema.Record``) to a binary file.

A format is one class registered here with its name, file suffix, media type and one line
that the CLI, the API and the study page show; it receives records one at a time, so an
export of any size takes the same memory. Formats that need a library the web process does
not load import it inside ``write``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from app.domain.exports.schema import FIELDS, Record, flat

Progress = Callable[[int], None]
"""Called with the number of records written so far, now and then."""
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    media_type: str
    description: str
    write: Callable[[Iterable[Record], BinaryIO, Progress | None], int]
    """Writes every record; returns how many."""


_FORMATS: dict[str, ExportFormat] = {}


def register(export_format: ExportFormat) -> ExportFormat:
    if export_format.name in _FORMATS:
        raise ValueError(f"export format {export_format.name!r} is already registered")
    _FORMATS[export_format.name] = export_format
    return export_format


def get(name: str) -> ExportFormat:
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(_FORMATS))
        raise ValueError(f"unknown export format {name!r}; known: {known}") from None


def names() -> list[str]:
    return sorted(_FORMATS)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _count(records: Iterable[Record], progress: Progress | None) -> Iterable[Record]:
    written = 0
    for record in records:
        yield record
        written += 1
        if progress is not None and written % PROGRESS_EVERY == 0:
            progress(written)
    if progress is not None:
        progress(written)


def write_jsonl(records: Iterable[Record], out: BinaryIO, progress: Progress | None) -> int:
    """One JSON object a line, nested by section, UTF-8, no NaN (a missing value is null)."""
    written = 0
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_json_default)
    for record in _count(records, progress):
        out.write(encoder.encode(record).encode())
        out.write(b"\n")
        written += 1
    return written


def csv_cell(kind: str, value: Any) -> str:
    """A field as CSV text: lists ``;``-joined, JSON values as JSON text, times ISO 8601,
    booleans true/false, a missing value empty."""
    if value is None:
        return ""
    if kind == "list":
        return ";".join(str(v) for v in value)
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "time":
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return str(value)


def write_csv(records: Iterable[Record], out: BinaryIO, progress: Progress | None) -> int:
    """One row per record, one column per field (``section.field``, docs/exports.md), UTF-8
    with a header row."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow([f.column for f in FIELDS])
        kinds = [f.kind for f in FIELDS]
        written = 0
        for record in _count(records, progress):
            row = flat(record)
            writer.writerow(
                [csv_cell(kind, value) for kind, value in zip(kinds, row.values(), strict=True)]
            )
            written += 1
        return written
    finally:
        text.detach()  # the caller owns ``out``


JSONL = register(
    ExportFormat(
        name="jsonl",
        suffix=".jsonl",
        media_type="application/x-ndjson",
        description="JSON Lines: one record a line, nested by section (pandas, jq, R).",
        write=write_jsonl,
    )
)
CSV = register(
    ExportFormat(
        name="csv",
        suffix=".csv",
        media_type="text/csv",
        description="CSV: one row per annotation, the documented columns (spreadsheets, R).",
        write=write_csv,
    )
)
