"""The bundle's crop table (``crops.parquet``): one row per item and pane, with the pane's PNG
in an image column that Hugging Face ``datasets`` decodes (``load_dataset("parquet", ...)``
gives PIL images) and pandas or pyarrow read as a struct of ``bytes`` and ``path``.

``datasets`` recognises the column by the ``huggingface`` key of the schema's metadata, the
features it would itself write (``{"_type": "Image"}`` over a struct<bytes, path>), so the
file is written without importing ``datasets``. Rows are written in small row groups: memory
holds a few dozen PNGs, whatever the size of the study.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_GROUP = 64
"""Panes per row group: a crop's PNG is tens of kilobytes, so a group stays a few MB."""


@dataclass(frozen=True)
class CropRow:
    """One pane of one study item."""

    item_id: int
    pane: str
    """Its name (original, reconstruction, jpeg, versus, difference), never a blind label."""
    png: bytes
    path: str
    """Where the same PNG lies in the bundle (``crops/<item id>/<pane>.png``)."""
    kind: str
    method: str
    image_id: int
    image_sha256: str
    x: int
    y: int
    size: int
    share_percent: float
    codec: str | None
    codec_params: str | None
    """JSON text, as in the records' Parquet."""
    bpp: float | None
    jpeg_bpp: float | None


_COLUMNS: tuple[tuple[str, pa.DataType, str, dict[str, str]], ...] = (
    ("item_id", pa.int64(), "The item's id (item.id of the annotations).", {}),
    ("pane", pa.string(), "The pane's name.", {}),
    (
        "image",
        pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
        "The pane as a lossless PNG, and its path in the bundle.",
        {"_type": "Image"},
    ),
    ("kind", pa.string(), "crop, control_identity or control_planted.", {}),
    ("method", pa.string(), "The proposal method that chose the crop (control for controls).", {}),
    ("image_id", pa.int64(), "The original image's id.", {}),
    ("image_sha256", pa.string(), "sha256 of the original's decoded pixels.", {}),
    ("x", pa.int64(), "Left edge of the crop in original-image pixels.", {}),
    ("y", pa.int64(), "Top edge of the crop in original-image pixels.", {}),
    ("size", pa.int64(), "Width and height of the square crop in pixels.", {}),
    ("share_percent", pa.float64(), "The crop's share of the image's area, in percent.", {}),
    ("codec", pa.string(), "The codec of the item's run (its registered name).", {}),
    ("codec_params", pa.string(), "The codec's parameters (JSON text).", {}),
    ("bpp", pa.float64(), "The reconstruction's bits per pixel.", {}),
    ("jpeg_bpp", pa.float64(), "The bpp-matched JPEG's bits per pixel.", {}),
)


def _feature(arrow_type: pa.DataType, declared: dict[str, str]) -> dict[str, str]:
    if declared:
        return declared
    dtype = {pa.int64(): "int64", pa.float64(): "float64", pa.string(): "string"}[arrow_type]
    return {"dtype": dtype, "_type": "Value"}


def crop_schema() -> pa.Schema:
    """The table's schema, with each column's meaning and the features ``datasets`` reads."""
    features = {name: _feature(kind, declared) for name, kind, _, declared in _COLUMNS}
    return pa.schema(
        [
            pa.field(name, kind, nullable=True, metadata={"description": meaning})
            for name, kind, meaning, _ in _COLUMNS
        ],
        metadata={"huggingface": json.dumps({"info": {"features": features}})},
    )


def _columns(row: CropRow) -> list[Any]:
    values = {f.name: getattr(row, f.name) for f in fields(CropRow)}
    values["image"] = {"bytes": values.pop("png"), "path": values.pop("path")}
    return [values[name] for name, *_ in _COLUMNS]


def write_crop_table(rows: Iterable[CropRow], out: BinaryIO) -> int:
    """Every row to ``out`` as Parquet (Zstandard; PNGs are stored as they are); returns how
    many."""
    schema = crop_schema()
    written = 0
    remaining = iter(rows)
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        while batch := list(islice(remaining, ROWS_PER_GROUP)):
            columns = list(zip(*(_columns(row) for row in batch), strict=True))
            writer.write_batch(pa.record_batch([list(c) for c in columns], schema=schema))
            written += len(batch)
    return written
