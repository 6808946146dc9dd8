"""Where each file lies in a study's export bundle (a zip): the one list that the bundle's
writer (``app/exports/bundle.py``), its datasheet and docs/exports.md follow.

```
README.md                       the datasheet
annotations.jsonl, .csv, .parquet, boxes.coco.json
                                the record formats, as the single-format exports write them
crops.parquet                   one row per item and pane, the PNG as a `datasets` Image
crops/<item id>/<pane>.png      every rendered pane of every item, by pane name
results/report.json             the study's report (agreement, prevalence, raters...)
results/agreement.csv, results/prevalence.csv
results/agreement.svg|pdf, results/prevalence.svg|pdf
originals/<sha256>.png          the full originals, on request (sha256 of the pixels)
```

With the originals the bundle also holds what ``miscomp studies import`` needs to rebuild
the study in another instance (``app/exports/bundle_rebuild.py`` writes these,
``app/exports/bundle_import.py`` reads them):

```
study.json                      the study's design, taxonomy, codec runs and datasets
images.jsonl                    each original image of the items (by dataset and sha256)
results.jsonl                   each codec result an item uses, with its measurements
items.jsonl                     every item, with its adjudication
leases.jsonl                    every assignment, in the order raters took them
annotations.all.jsonl           every revision's record (when annotations.jsonl has only
                                the current ones)
reconstructions/<result id>.png, reconstructions/<result id>.jpeg.png
                                each result's reconstruction and matched JPEG, as stored
```
"""

from __future__ import annotations

from typing import Final

from app.domain.figures import FigureFormat

README: Final = "README.md"
CROP_TABLE: Final = "crops.parquet"
CROPS_DIR: Final = "crops"
RESULTS_DIR: Final = "results"
REPORT: Final = f"{RESULTS_DIR}/report.json"
AGREEMENT_CSV: Final = f"{RESULTS_DIR}/agreement.csv"
PREVALENCE_CSV: Final = f"{RESULTS_DIR}/prevalence.csv"
FIGURE_FORMATS: tuple[FigureFormat, ...] = ("svg", "pdf")
"""SVG for the web and editing, PDF for papers (PNG is the page's, for slides)."""
AGREEMENT_FIGURE: Final = "agreement"
PREVALENCE_FIGURE: Final = "prevalence"
ORIGINALS_DIR: Final = "originals"
STUDY: Final = "study.json"
IMAGES: Final = "images.jsonl"
RESULTS: Final = "results.jsonl"
ITEMS: Final = "items.jsonl"
LEASES: Final = "leases.jsonl"
ALL_REVISIONS: Final = "annotations.all.jsonl"
RECONSTRUCTIONS_DIR: Final = "reconstructions"
REBUILD_FORMAT: Final = 1
"""The version of the members above (``study.json``'s ``format``): an importer refuses
another."""

_RECORD_MEMBERS = {
    "jsonl": "annotations.jsonl",
    "csv": "annotations.csv",
    "parquet": "annotations.parquet",
    "coco": "boxes.coco.json",
}


def record_member(format_name: str, suffix: str) -> str:
    """The member holding a record format's export (a format registered later lands at
    ``annotations-<name><suffix>``)."""
    return _RECORD_MEMBERS.get(format_name, f"annotations-{format_name}{suffix}")


def crop_member(item_id: int, pane: str) -> str:
    return f"{CROPS_DIR}/{item_id}/{pane}.png"


def figure_member(figure: str, fmt: str) -> str:
    return f"{RESULTS_DIR}/{figure}.{fmt}"


def original_member(pixels_sha256: str) -> str:
    return f"{ORIGINALS_DIR}/{pixels_sha256}.png"


def reconstruction_member(result_id: int) -> str:
    return f"{RECONSTRUCTIONS_DIR}/{result_id}.png"


def matched_jpeg_member(result_id: int) -> str:
    return f"{RECONSTRUCTIONS_DIR}/{result_id}.jpeg.png"


def revisions_member(all_revisions: bool) -> str:
    """The member holding every revision's record: the JSONL export itself when it was
    written with all revisions, otherwise ``annotations.all.jsonl`` beside it."""
    return record_member("jsonl", ".jsonl") if all_revisions else ALL_REVISIONS
