"""The text formats: JSON Lines and CSV, written with the standard library."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, BinaryIO

from app.domain.exports.formats import Progress, counted
from app.domain.exports.schema import Field, Record, flat, json_text


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_jsonl(
    records: Iterable[Record],
    out: BinaryIO,
    progress: Progress | None,
    fields: Sequence[Field],
) -> int:
    """One JSON object a line, nested by section, UTF-8, no NaN (a missing value is null).
    Every record is written whole, so ``fields`` does not change what is written."""
    written = 0
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_json_default)
    for record in counted(records, progress):
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
        return json_text(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "time":
        return value.isoformat() if isinstance(value, datetime) else str(value)
    return str(value)


def write_csv(
    records: Iterable[Record],
    out: BinaryIO,
    progress: Progress | None,
    fields: Sequence[Field],
) -> int:
    """One row per record, one column per field (``section.field``, docs/exports.md), UTF-8
    with a header row."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow([f.column for f in fields])
        kinds = [f.kind for f in fields]
        written = 0
        for record in counted(records, progress):
            row = flat(record, fields)
            writer.writerow(
                [csv_cell(kind, value) for kind, value in zip(kinds, row.values(), strict=True)]
            )
            written += 1
        return written
    finally:
        text.detach()  # the caller owns ``out``
