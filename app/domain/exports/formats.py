"""Export formats: each writes a stream of records (``schema.Record``) to a binary file.

A format is one entry here: its name, file suffix, media type, one line that the CLI, the
API and the study page show, and the import path of its writer, a function
``write(records, out, progress, fields) -> int`` that receives records one at a time (so an
export of any size takes the same memory) and returns how many it wrote. ``fields`` are the
records' columns: a study's ``FIELDS``, or a codec run's (``run_schema.run_fields``). Writers
are imported when used: the web process lists formats without loading pyarrow.

A study also exports to composite formats (``COMPOSITE_FORMATS``: the bundle), which are
several files in one archive, not a record writer; ``study_format`` and
``study_format_names`` are the one list of what a study exports to, which the CLI, the API,
the study page and validation read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from app.domain.exports.schema import FIELDS, Field, Record

Progress = Callable[[int], None]
"""Called with the number of records written so far, now and then."""
PROGRESS_EVERY = 1000


class Writer(Protocol):
    def __call__(
        self,
        records: Iterable[Record],
        out: BinaryIO,
        progress: Progress | None,
        fields: Sequence[Field],
        /,
    ) -> int: ...


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    media_type: str
    description: str
    writer: str
    """``module:function`` of its :class:`Writer`."""
    studies_only: bool = False
    """Its writer reads a study's sections (COCO's boxes and categories), so it takes study
    records only; the others write records of any fields (a codec run's too)."""

    def write(
        self,
        records: Iterable[Record],
        out: BinaryIO,
        progress: Progress | None,
        fields: Sequence[Field] = FIELDS,
    ) -> int:
        """Writes every record to ``out``; returns how many."""
        if self.studies_only and tuple(fields) != FIELDS:
            raise ValueError(f"the {self.name} format exports studies only")
        module, _, function = self.writer.partition(":")
        write: Writer = getattr(importlib.import_module(module), function)
        return write(records, out, progress, fields)


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


def names(*, studies: bool = True) -> list[str]:
    """Every format's name; with ``studies=False`` only those that write any records (what a
    codec run exports to)."""
    return sorted(name for name, f in _FORMATS.items() if studies or not f.studies_only)


@dataclass(frozen=True)
class CompositeFormat:
    """A study export made of several files in one archive, written by the exports feature
    (``app/exports/bundle.py``) from the record formats and more."""

    name: str
    suffix: str
    media_type: str
    description: str


BUNDLE = CompositeFormat(
    name="bundle",
    suffix=".zip",
    media_type="application/zip",
    description=(
        "Zip bundle: every format above, the crop images, the results report and a "
        "datasheet (README.md)."
    ),
)
COMPOSITE_FORMATS: dict[str, CompositeFormat] = {BUNDLE.name: BUNDLE}

StudyFormat = ExportFormat | CompositeFormat


def study_format_names() -> list[str]:
    """What a study exports to: the registered formats, then the composite ones."""
    return [*names(), *sorted(COMPOSITE_FORMATS)]


def study_format(name: str) -> StudyFormat:
    """A format a study exports to, by name; a ValueError naming the known ones."""
    if name in COMPOSITE_FORMATS:
        return COMPOSITE_FORMATS[name]
    if name in _FORMATS:
        return _FORMATS[name]
    known = ", ".join(study_format_names())
    raise ValueError(f"unknown export format {name!r}; known: {known}")


def counted(records: Iterable[Record], progress: Progress | None) -> Iterator[Record]:
    """``records``, calling ``progress`` every ``PROGRESS_EVERY`` of them and at the end."""
    passed = 0
    for record in records:
        yield record
        passed += 1
        if progress is not None and passed % PROGRESS_EVERY == 0:
            progress(passed)
    if progress is not None:
        progress(passed)


register(
    ExportFormat(
        name="jsonl",
        suffix=".jsonl",
        media_type="application/x-ndjson",
        description="JSON Lines: one record a line, nested by section (pandas, jq, R).",
        writer="app.domain.exports.text:write_jsonl",
    )
)
register(
    ExportFormat(
        name="csv",
        suffix=".csv",
        media_type="text/csv",
        description="CSV: one row per annotation, the documented columns (spreadsheets, R).",
        writer="app.domain.exports.text:write_csv",
    )
)
register(
    ExportFormat(
        name="parquet",
        suffix=".parquet",
        media_type="application/vnd.apache.parquet",
        description="Parquet: the CSV's columns with fixed types (pandas, pyarrow, datasets).",
        writer="app.domain.exports.parquet:write_parquet",
    )
)
register(
    ExportFormat(
        name="coco",
        suffix=".json",
        media_type="application/json",
        description="COCO detection JSON: the boxes on the original images (pycocotools).",
        writer="app.domain.exports.coco:write_coco",
        studies_only=True,
    )
)
