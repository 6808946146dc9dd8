"""What an export bundle's datasheet is written from (``datasheet.datasheet``): plain data
that ``app/exports/bundle_sheet.py`` reads from the database, and tests make by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunSheet:
    """A codec run the study's items come from (``role`` "compared"), or its versus run."""

    id: int
    role: str
    codec: str
    label: str
    """How results pages name it (``rd.curve_label``)."""
    params: dict[str, Any]
    dataset: str
    seeds: tuple[int, ...]
    match_jpeg: bool
    jpeg_params: dict[str, Any]
    results: int
    """Finished results (image and seed)."""
    bpp_range: tuple[float, float] | None
    jpeg_quality_range: tuple[int, int] | None
    weights_sha256: tuple[str, ...]
    devices: tuple[str, ...]


@dataclass(frozen=True)
class DatasetSheet:
    name: str
    license: str
    source: str
    images: int
    """Images of this dataset among the study's items."""


@dataclass(frozen=True)
class Counts:
    items: tuple[tuple[str, str, int], ...]
    """(kind, method, items)."""
    raters: int
    annotations: int
    """Current annotations, one per rater and item."""
    revisions: int
    """Earlier revisions the raters have since replaced."""
    counted: int
    late: int
    adjudications: tuple[tuple[str, int], ...]
    """(final verdict, items)."""


@dataclass(frozen=True)
class Datasheet:
    study: dict[str, Any]
    """The records' ``study`` section (``app/domain/exports/schema.py``)."""
    verdicts: tuple[dict[str, Any], ...]
    items_target: int
    lease_s: int
    planted_controls: bool
    region_iou: float
    simulated: bool
    """Simulated raters gave the labels (``miscomp studies simulate``), not people."""
    simulation: dict[str, Any] | None
    method_descriptions: dict[str, str]
    runs: tuple[RunSheet, ...]
    datasets: tuple[DatasetSheet, ...]
    counts: Counts
    report: dict[str, Any]
    statistics: tuple[tuple[str, str], ...]
    """The agreement table's columns: (report key, label)."""
    prevalence_groups: tuple[dict[str, Any], ...]
    """The report's prevalence rows by (codec, bpp bucket, method), a cell per outcome."""
    replicates: int
    record_files: tuple[tuple[str, str], ...]
    """(format name, member) of each record format in the bundle."""
    crops: int
    """Crop PNGs in the bundle."""
    originals: bool
    all_revisions: bool
    names: bool
    exported_at: str
