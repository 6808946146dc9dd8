"""Parquet: one denormalised table, one column per field (``section.field``, the CSV's columns
in the same order), typed by the field's kind, so every reader (pandas, pyarrow, DuckDB,
Hugging Face ``datasets``) sees the same schema whatever the values of one export.

Written a row group at a time with ``pyarrow.parquet.ParquetWriter``: memory holds one batch
of records, whatever the size of the export. Only the workers and the CLI import this module
(through ``formats``), so the web process never loads pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from app.domain.exports.formats import Progress, counted
from app.domain.exports.schema import (
    ColumnRun,
    Converters,
    Field,
    FieldKind,
    Record,
    column_runs,
    json_text,
)

ROWS_PER_GROUP = 10_000
"""Records per row group: the memory one batch takes, and the unit readers skip by."""

ARROW_TYPES: dict[FieldKind, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "list": pa.list_(pa.string()),
    # JSON values vary in shape from record to record (evidence, metrics); as text the column
    # keeps one type, and readers parse it where they need it.
    "json": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
}
"""Each field kind's Arrow type (docs/exports.md)."""


def arrow_schema(fields: Sequence[Field]) -> pa.Schema:
    """The file's schema: one nullable column per field, with its kind and meaning as the
    column's metadata, so the file documents itself."""
    return pa.schema(
        [
            pa.field(
                f.column,
                ARROW_TYPES[f.kind],
                nullable=True,
                metadata={"kind": f.kind, "description": f.description},
            )
            for f in fields
        ]
    )


ARROW_VALUES: Converters = {
    "list": lambda value: [str(v) for v in value] if value else value,
    "json": json_text,
    "time": lambda value: datetime.fromisoformat(value) if isinstance(value, str) else value,
}
"""A field's value as its Arrow type takes it: lists as text items, JSON as text, times as
aware datetimes (ISO text, as a record read back from JSON holds, is parsed); the rest as
it is."""


def write_parquet(
    records: Iterable[Record],
    out: BinaryIO,
    progress: Progress | None,
    fields: Sequence[Field],
) -> int:
    """One row per record, in row groups of ``ROWS_PER_GROUP``; Zstandard-compressed."""
    schema = arrow_schema(fields)
    runs = column_runs(fields, ARROW_VALUES)
    types = iter(schema.types)
    run_types = [[next(types) for _ in run.names] for run in runs]
    written = 0
    remaining = iter(counted(records, progress))
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        while batch := list(islice(remaining, ROWS_PER_GROUP)):
            columns = [
                column
                for run, types_of_run in zip(runs, run_types, strict=True)
                for column in _run_columns(run, types_of_run, batch)
            ]
            writer.write_batch(pa.record_batch(columns, schema=schema))
            written += len(batch)
    return written


def _run_columns(run: ColumnRun, types: list[pa.DataType], batch: list[Record]) -> list[pa.Array]:
    """The batch's columns of one run of fields. Records share sections (a study's, an
    item's), so each distinct section of the batch is converted once, and Arrow repeats its
    values where records share it (``take``), rather than Python handing it the same values
    thousands of times."""
    distinct: list[list[Any]] = []
    places: list[int] = []
    last: dict[str, Any] | None = None
    for record in batch:
        section = record[run.section]
        if section is not last:
            distinct.append(run.cells(section))
            last = section
        places.append(len(distinct) - 1)
    columns = [
        pa.array(column, type=kind)
        for column, kind in zip(zip(*distinct, strict=True), types, strict=True)
    ]
    if len(distinct) == len(batch):  # no two records in a row share it (labels)
        return columns
    taken = pa.array(places, type=pa.int32())
    return [column.take(taken) for column in columns]
