"""What makes exports fast must not change what they write: the writers convert a section
once while records share it (``schema.SectionMemo``), and the exporter merges its streams
in item order (``records.OrderedRows``). Pure: records and rows made by hand."""

from __future__ import annotations

import copy
import csv
import io
import json
import math
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq

from app.domain.exports import formats
from app.domain.exports.schema import FIELDS, SECTIONS, Record, SectionMemo
from app.exports.records import OrderedRows

WHEN = datetime(2026, 12, 2, 4, 5, 6, 789_000, tzinfo=UTC)


def _shared_records(items: int, ratings: int) -> list[Record]:
    """Records as the exporter makes them: one study section for all, an item's sections
    shared by its ratings, a rater's by all of theirs."""
    study: dict[str, Any] = {f.name: None for f in FIELDS if f.section == "study"}
    study.update(id=7, name="Ziffern – 数字", panes=["original", "reconstruction"], quotas={})
    raters = [{"id": f"R{n:02d}", "name": None} for n in range(1, 4)]
    records = []
    for item_id in range(items):
        shared: Record = {
            section: {f.name: None for f in FIELDS if f.section == section} for section in SECTIONS
        }
        shared["study"] = study
        shared["item"].update(id=item_id, x=item_id * 3, evidence={"words": ["8", "3"]})
        shared["image"].update(id=item_id % 2, filename=f"crème-{item_id % 2}.png")
        shared["agreement"].update(counted_ratings=ratings, verdicts={"unsure": ratings})
        for n in range(ratings):
            label: dict[str, Any] = {f.name: None for f in FIELDS if f.section == "label"}
            label.update(
                annotation_id=item_id * 10 + n,
                verdict="miscompression" if (item_id + n) % 2 else "no_miscompression",
                categories=["shape"] if n else [],
                boxes=[{"pane": "reconstruction", "x": n, "y": 1, "w": 2, "h": 3}],
                submitted_at=WHEN,
                confidence=n + 1,
                note=f"note {item_id}.{n}",
            )
            records.append({**shared, "rater": raters[n % len(raters)], "label": label})
    return records


def _written(name: str, records: list[Record]) -> bytes:
    out = io.BytesIO()
    assert formats.get(name).write(iter(records), out, None) == len(records)
    return out.getvalue()


def test_shared_sections_are_written_as_if_every_record_had_its_own() -> None:
    # 70 raters' worth of items: more distinct sections per slot than the memo keeps.
    shared = _shared_records(items=70, ratings=3)
    unshared = [copy.deepcopy(record) for record in shared]
    for name in ("jsonl", "csv", "coco"):
        assert _written(name, shared) == _written(name, unshared), name
    tables = [pq.read_table(io.BytesIO(_written("parquet", r))) for r in (shared, unshared)]
    assert tables[0].equals(tables[1])
    assert tables[0].num_rows == len(shared)
    # And what is written is each record, whole and in order.
    lines = _written("jsonl", shared).decode().splitlines()
    read = [json.loads(line) for line in lines]
    assert [r["label"]["note"] for r in read] == [r["label"]["note"] for r in shared]
    assert read[5]["study"]["name"] == "Ziffern – 数字"
    assert read[5]["label"]["submitted_at"] == "2026-12-02T04:05:06.789000+00:00"
    assert list(read[5]) == list(shared[5])
    rows = list(csv.DictReader(io.StringIO(_written("csv", shared).decode())))
    assert [row["item.id"] for row in rows[:4]] == ["0", "0", "0", "1"]
    assert rows[4]["label.boxes"] == '[{"h":3,"pane":"reconstruction","w":2,"x":1,"y":1}]'


def test_a_section_changed_between_records_is_converted_again_when_it_is_a_new_object() -> None:
    conversions: list[dict[str, Any]] = []

    def convert(slot: str, section: dict[str, Any]) -> str:
        conversions.append(section)
        return json.dumps(section, sort_keys=True)

    memo = SectionMemo[str, str](convert)
    first = {"a": 1}
    assert memo("item", first) == memo("item", first) == '{"a": 1}'
    assert len(conversions) == 1
    # An equal section that is another object is converted for itself.
    assert memo("item", {"a": 1}) == '{"a": 1}'
    assert len(conversions) == 2
    # Past KEPT distinct sections the oldest are let go, and come back converted again.
    many = [{"n": n} for n in range(SectionMemo.KEPT + 5)]
    assert [memo("item", s) for s in many] == [json.dumps(s) for s in many]
    assert memo("item", many[0]) == '{"n": 0}'
    assert conversions[-1] is many[0]


def test_nan_and_infinity_are_written_as_null_not_as_invalid_json() -> None:
    record = _shared_records(items=1, ratings=1)[0]
    record["codec"] = {**record["codec"], "bpp": math.nan, "metrics": {"psnr": math.inf}}
    line = _written("jsonl", [record]).decode()
    read = json.loads(line)  # strict JSON: Python's reader would accept NaN, so check text
    assert "NaN" not in line and "Infinity" not in line
    assert read["codec"]["bpp"] is None and read["codec"]["metrics"] == {"psnr": None}


class _Row:
    def __init__(self, key: int, value: str) -> None:
        self.key, self.value = key, value


def test_ordered_rows_are_taken_by_key_and_keys_passed_over_are_dropped() -> None:
    rows = OrderedRows(
        [_Row(1, "a"), _Row(2, "b"), _Row(2, "c"), _Row(4, "d"), _Row(7, "e")],
        key=lambda row: row.key,
    )
    assert [r.value for r in rows.take(2)] == ["b", "c"]  # key 1 passed over
    assert rows.take(3) == []
    assert [r.value for r in rows.take(4)] == ["d"]
    assert rows.take(4) == []
    assert [r.value for r in rows.take(9)] == []  # 7 passed over, the stream is done
    assert rows.take(10) == []
