"""The text formats: JSON Lines (encoded by orjson, see ``schema.json_bytes``) and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import BinaryIO

from app.domain.exports.formats import Progress, counted
from app.domain.exports.schema import (
    Converters,
    Field,
    Record,
    SectionMemo,
    json_bytes,
    json_text,
    row_maker,
)


def write_jsonl(
    records: Iterable[Record],
    out: BinaryIO,
    progress: Progress | None,
    fields: Sequence[Field],
) -> int:
    """One JSON object a line, nested by section, UTF-8 (``schema.json_bytes``: a missing
    value, NaN included, is null). Every record is written whole, so ``fields`` does not
    change what is written."""
    written = 0
    # Each section a record shares with others (the study's, an item's, a rater's) is
    # encoded once.
    member = SectionMemo[str, bytes](lambda name, section: json_bytes({name: section})[1:-1])
    for record in counted(records, progress):
        out.write(b"{" + b",".join(member(name, section) for name, section in record.items()))
        out.write(b"}\n")
        written += 1
    return written


CSV_TEXT: Converters = {
    "list": lambda value: ";".join(str(v) for v in value),
    "json": json_text,
    "bool": lambda value: "true" if value else "false",
    "time": lambda value: value.isoformat() if isinstance(value, datetime) else str(value),
}
"""A field as CSV text: lists ``;``-joined, JSON values as JSON text, times ISO 8601,
booleans true/false; numbers and text as the csv module writes them, a missing value
empty."""


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
        row = row_maker(fields, CSV_TEXT)
        written = 0
        for record in counted(records, progress):
            writer.writerow(row(record))
            written += 1
        return written
    finally:
        text.detach()  # the caller owns ``out``
