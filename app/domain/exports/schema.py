"""The export record: one annotation (or one revision of it) with everything needed to use it
without the database. Every field is listed here once, with what it means: the JSONL record
nests them by section (``study``, ``item``, ...), the CSV and Parquet files have one column per
field in this order (Parquet's type follows the field's kind), and ``docs/exports.md`` is
checked against this list.

Pure: records are plain dicts, so the writers are tested on records made by hand. Records
may share section objects (every record of a study holds the same ``study`` section, the
records of one item the same ``item``, ``image``, ``codec``... sections): the writers convert
a section once while consecutive records carry the same object (:class:`SectionMemo`), so a
section must not change once a record holding it was yielded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Generic, Literal, TypeVar

import orjson

FieldKind = Literal["int", "float", "str", "bool", "list", "json", "time"]
"""How a field is written where a format needs one type per column: ``list`` is a list of
strings (``;``-joined in CSV), ``json`` any JSON value (JSON text in CSV), ``time`` an ISO 8601
UTC timestamp (``parquet.ARROW_TYPES`` gives each kind's Arrow type)."""


@dataclass(frozen=True)
class Field:
    section: str
    name: str
    kind: FieldKind
    description: str

    @property
    def column(self) -> str:
        return f"{self.section}.{self.name}"


def section_fields(section: str, *rows: tuple[str, FieldKind, str]) -> tuple[Field, ...]:
    """The fields of one section, from (name, kind, description) rows."""
    return tuple(Field(section, name, kind, description) for name, kind, description in rows)


FIELDS: tuple[Field, ...] = (
    *section_fields(
        "study",
        ("id", "int", "The study's id."),
        ("name", "str", "The study's name."),
        ("raters_per_item", "int", "k: the ratings each item is given."),
        ("per_rater_cap", "int", "Items per rater at most (empty: no cap)."),
        ("quotas", "json", "Share of the items per kind: guided, random, control."),
        ("blind", "bool", "Whether raters saw the compared panes as A, B in a random order."),
        ("panes", "list", "The panes raters were shown, by name."),
        ("crop_sizes", "list", "Crop sizes in pixels."),
        ("methods", "list", "The proposal methods that chose the items."),
        ("seed", "int", "The seed of the crop sampling and of the pane orders."),
        ("run_ids", "list", "The codec runs the study's items come from."),
        ("versus_run_id", "int", "A second run set against them (empty: none)."),
        ("taxonomy", "str", "Name and version of the taxonomy the labels use."),
        (
            "taxonomy_categories",
            "json",
            "The taxonomy's categories and modifiers: key, label, kind, description.",
        ),
    ),
    *section_fields(
        "item",
        ("id", "int", "The item's id."),
        ("position", "int", "Its place in the order items were handed out."),
        ("kind", "str", "crop, control_identity (no compression) or control_planted."),
        ("method", "str", "The proposal method that chose it (control for controls)."),
        ("score", "float", "The method's score for the crop (0 for random crops)."),
        (
            "inclusion_probability",
            "float",
            "The probability that the design drew this crop (random crops; empty otherwise).",
        ),
        ("x", "int", "Left edge of the crop in original-image pixels."),
        ("y", "int", "Top edge of the crop in original-image pixels."),
        ("size", "int", "Width and height of the square crop in pixels."),
        ("share_percent", "float", "The crop's share of the image's area, in percent."),
        (
            "context_boxes",
            "json",
            "The wider views raters could open: [x, y, width, height] per zoom-out factor.",
        ),
        ("evidence", "json", "What the method found there (OCR words, map scores...)."),
    ),
    *section_fields(
        "image",
        ("id", "int", "The image's id."),
        ("dataset", "str", "The dataset's name."),
        ("filename", "str", "The file name it was imported under."),
        ("sha256", "str", "sha256 of its decoded 8-bit RGB pixels (as stored)."),
        ("source_sha256", "str", "sha256 of the file as imported."),
        ("width", "int", "Width in pixels."),
        ("height", "int", "Height in pixels."),
        ("license", "str", "The dataset's licence."),
        ("attribution", "str", "The dataset's source (authors, where it comes from)."),
    ),
    *section_fields(
        "codec",
        ("run_id", "int", "The codec run (empty for control items with no result)."),
        ("result_id", "int", "The run's result for this image and seed."),
        ("name", "str", "The codec's registered name (an imported run's: its label)."),
        ("params", "json", "The codec's parameters (an imported run's: those it came with)."),
        ("seed", "int", "The coding seed."),
        ("weights_sha256", "str", "sha256 of the model's weights, for learned codecs."),
        ("device", "str", "Where it ran (cpu, cuda:0...)."),
        ("bpp", "float", "Measured bits per pixel."),
        ("bits_source", "str", "Where the bits were counted: the bitstream file, or a sidecar."),
        ("metrics", "json", "PSNR, MS-SSIM, CIEDE2000 and, where measured, LPIPS and DISTS."),
        ("jpeg_status", "str", "How the bpp-matched JPEG turned out (matched, above, ...)."),
        ("jpeg_quality", "int", "The matched JPEG's quality."),
        ("jpeg_bpp", "float", "The matched JPEG's bits per pixel."),
        ("jpeg_metrics", "json", "The matched JPEG's metrics."),
    ),
    *section_fields(
        "label",
        ("annotation_id", "int", "The annotation's id (one per rater and item)."),
        ("revision", "int", "The revision this record holds (1: as first submitted)."),
        ("current", "bool", "Whether it is the annotation's current revision."),
        (
            "counted",
            "bool",
            "Whether it is one of the item's k counted ratings (a crop, not late, current).",
        ),
        ("late", "bool", "Submitted after the lease expired and others completed the item."),
        ("verdict", "str", "miscompression, no_miscompression or unsure."),
        ("categories", "list", "AMPLITUDE, GEOMETRY, SHAPE... as the taxonomy's keys."),
        ("modifiers", "list", "SYMBOL and any other modifier."),
        ("seen_in", "list", "The panes the rater saw the miscompression in, by pane name."),
        (
            "pane_map",
            "json",
            "What the rater saw: shown label -> pane name (A, B in a blind study), for audits.",
        ),
        ("boxes", "json", "Regions in crop pixels: {pane, x, y, w, h}, pane by name."),
        (
            "boxes_in_image",
            "json",
            "The same regions in original-image pixels: {pane, x, y, w, h}.",
        ),
        ("original_shows", "str", "What the original shows, in the rater's words."),
        ("compressed_shows", "str", "What the compressed pane shows, in the rater's words."),
        ("confidence", "int", "1 (a guess) to 5 (certain); empty where left out."),
        ("note", "str", "The rater's note."),
        ("time_spent_ms", "int", "Time on the item, as the browser measured it."),
        ("leased_at", "time", "When the rater was given the item."),
        ("submitted_at", "time", "When this revision was submitted."),
    ),
    *section_fields(
        "rater",
        ("id", "str", "A pseudonym, stable within the study (R01, R02... in order of joining)."),
        ("name", "str", "The rater's username, only when the export asks for names."),
    ),
    *section_fields(
        "adjudication",
        ("verdict", "str", "The researcher's final verdict (empty: not adjudicated)."),
        ("categories", "list", "The final categories."),
        ("modifiers", "list", "The final modifiers."),
        ("note", "str", "The researcher's note."),
        ("decided_at", "time", "When it was decided."),
    ),
    *section_fields(
        "agreement",
        ("counted_ratings", "int", "The item's counted ratings."),
        ("verdicts", "json", "How many counted ratings gave each verdict."),
        (
            "verdict_agreement",
            "float",
            "Share of agreeing pairs of counted ratings on the verdict (empty below two).",
        ),
    ),
)
"""Every field of a record, in CSV column order."""

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(f.section for f in FIELDS))

Record = dict[str, dict[str, Any]]
"""section -> field -> value; a missing value is None. A study's records hold ``FIELDS``; a
codec run's hold ``run_schema.run_fields``."""


_Converted = TypeVar("_Converted")
_Slot = TypeVar("_Slot", bound=Hashable)


class SectionMemo(Generic[_Slot, _Converted]):
    """``convert(slot, section)``, made once for each section object a slot holds in the
    last ``KEPT`` distinct ones: a study export repeats its study section in every record,
    an item's sections in each of its ratings and a rater's in each of theirs, which would
    otherwise be converted (to JSON text, to cells) hundreds of thousands of times. The kept
    sections are held, so their identities cannot be reused, and memory does not grow."""

    KEPT = 64

    def __init__(self, convert: Callable[[_Slot, dict[str, Any]], _Converted]) -> None:
        self._convert = convert
        self._kept: dict[_Slot, dict[int, tuple[dict[str, Any], _Converted]]] = {}
        self._last: dict[_Slot, tuple[dict[str, Any], _Converted]] = {}

    def __call__(self, slot: _Slot, section: dict[str, Any]) -> _Converted:
        last = self._last.get(slot)
        if last is not None and last[0] is section:  # the common case: the same as before
            return last[1]
        kept = self._kept.setdefault(slot, {})
        found = kept.get(id(section))
        if found is None:
            if len(kept) >= self.KEPT:
                del kept[next(iter(kept))]
            found = kept[id(section)] = (section, self._convert(slot, section))
        self._last[slot] = found
        return found[1]


Converters = Mapping[FieldKind, Callable[[Any], Any]]
"""How a format writes a value of each kind; a kind it does not name, and a missing value
(None) of any kind, it takes as they are."""


@dataclass(frozen=True)
class ColumnRun:
    """Consecutive columns of one section: their fields' names, read together, and the
    places of those a format converts."""

    section: str
    names: tuple[str, ...]
    converting: tuple[tuple[int, Callable[[Any], Any]], ...]

    def cells(self, section: dict[str, Any]) -> list[Any]:
        try:
            # Every field at once: a section holds each of its fields, or none (an item
            # with no codec result, no adjudication), which is None for each.
            made = [section[name] for name in self.names]
        except KeyError:
            made = [section.get(name) for name in self.names]
        for i, converter in self.converting:
            value = made[i]
            if value is not None:
                made[i] = converter(value)
        return made


def column_runs(fields: Sequence[Field], convert: Converters) -> list[ColumnRun]:
    """``fields`` as runs of consecutive fields of one section, in column order."""
    runs = []
    for section, grouped in groupby(fields, key=lambda f: f.section):
        run = tuple(grouped)
        converting = tuple((i, convert[f.kind]) for i, f in enumerate(run) if f.kind in convert)
        runs.append(ColumnRun(section, tuple(f.name for f in run), converting))
    return runs


def row_maker(fields: Sequence[Field], convert: Converters) -> Callable[[Record], list[Any]]:
    """A function giving a record's cells in the order of ``fields`` (its columns), each
    value converted by its kind's converter, a section's cells once while records share
    it (:class:`SectionMemo`)."""
    runs = column_runs(fields, convert)
    memo = SectionMemo[int, list[Any]](lambda index, section: runs[index].cells(section))

    slots = [(index, run.section) for index, run in enumerate(runs)]
    # Each slot's last section and cells, checked here before the memo is asked: most
    # sections are the previous record's, and this runs once per record and section.
    last: list[tuple[dict[str, Any] | None, list[Any]]] = [(None, [])] * len(runs)

    def row(record: Record) -> list[Any]:
        made: list[Any] = []
        for index, name in slots:
            section = record[name]
            seen, cells = last[index]
            if section is not seen:
                cells = memo(index, section)
                last[index] = (section, cells)
            made.extend(cells)
        return made

    return row


def json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON: times as ISO 8601, NaN and infinities (which JSON
    has no word for) as null, like any missing value."""
    return orjson.dumps(value)


def json_text(value: Any) -> str:
    """A ``json`` field where a format needs text (CSV, Parquet): keys sorted, so equal values
    are equal text (as :func:`json_bytes` otherwise)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
