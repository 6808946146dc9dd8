"""The bundle's datasheet and report tables, from hand-made input: what a reader of the
README.md must learn (simulated labels first of all), and tables that keep every interval."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

import pytest

from app.domain.exports import report_tables
from app.domain.exports.datasheet import datasheet
from app.domain.exports.datasheet_input import Counts, DatasetSheet, Datasheet, RunSheet

STATISTICS = (("krippendorff_alpha", "Krippendorff's alpha"), ("gwet_ac1", "Gwet's AC1"))
REPORT: dict[str, Any] = {
    "questions": [
        {
            "key": "verdict",
            "label": "Verdict",
            "level": "nominal",
            "n_pairable_units": 40,
            "n_raters": 3,
            "krippendorff_alpha": 0.4123,
            "krippendorff_alpha_ci95": [0.301, 0.533],
            "gwet_ac1": None,
            "gwet_ac1_ci95": None,
            "notes": ["gwet_ac1: no variation"],
        }
    ],
    "outcomes": ["miscompression", "modifier:symbol"],
    "prevalence": [
        {
            "codec": "hific (hi)",
            "bpp_bucket": 0.25,
            "method": "random",
            "outcome": "miscompression",
            "n_items": 30,
            "value": 0.1,
            "ci95": [0.05, 0.2],
            "note": None,
        }
    ],
}


def _sheet(**changes: Any) -> Datasheet:
    sheet = Datasheet(
        study={
            "id": 7,
            "name": "Hand | made",
            "raters_per_item": 3,
            "per_rater_cap": 50,
            "quotas": {"guided": 0.5, "random": 0.4, "control": 0.1},
            "blind": True,
            "panes": ["original", "reconstruction", "jpeg"],
            "crop_sizes": [64, 128],
            "methods": ["guided", "random"],
            "seed": 11,
            "run_ids": [3],
            "versus_run_id": None,
            "taxonomy": "miscompression v1",
            "taxonomy_categories": [
                {"key": "shape", "label": "SHAPE", "kind": "category", "description": "Contours."}
            ],
        },
        verdicts=({"key": "miscompression", "label": "Miscompression"},),
        items_target=300,
        lease_s=900,
        planted_controls=True,
        region_iou=0.5,
        simulated=False,
        simulation=None,
        method_descriptions={"guided": "where the maps stand out"},
        runs=(
            RunSheet(
                id=3,
                role="compared",
                codec="hific",
                label="hific (hi)",
                params={"quality": "hi"},
                dataset="kodak",
                seeds=(0, 1),
                match_jpeg=True,
                jpeg_params={},
                results=48,
                bpp_range=(0.2, 0.4),
                jpeg_quality_range=(5, 12),
                weights_sha256=("ab" * 32,),
                devices=("cuda:0",),
            ),
        ),
        datasets=(DatasetSheet("kodak", "free for research", "Eastman Kodak", 24),),
        counts=Counts(
            items=(
                ("crop", "guided", 150),
                ("crop", "random", 120),
                ("control_planted", "control", 30),
            ),
            raters=3,
            annotations=900,
            revisions=12,
            counted=810,
            late=2,
            adjudications=(("miscompression", 4),),
        ),
        report=REPORT,
        statistics=STATISTICS,
        prevalence_groups=(
            {
                "codec": "hific (hi)",
                "bpp_bucket": 0.25,
                "method": "random",
                "n_items": 30,
                "cells": {"miscompression": REPORT["prevalence"][0]},
            },
        ),
        replicates=1000,
        record_files=(("csv", "annotations.csv"), ("coco", "boxes.coco.json")),
        crops=900,
        originals=False,
        all_revisions=False,
        names=False,
        exported_at="2026-12-02 10:00 UTC",
    )
    return replace(sheet, **changes)


def test_the_datasheet_says_what_the_study_was() -> None:
    text = datasheet(_sheet())
    assert text.startswith("# Datasheet: Hand | made\n")
    assert "Simulated" not in text
    assert "300 items, 900 annotations by 3 raters (810 counted ratings, k = 3" in text
    assert "Agreement on the verdict: Krippendorff's alpha 0.412 [0.301, 0.533]." in text
    assert "quotas guided 50 %, random 40 %, control 10 % (half the controls planted" in text
    assert "- Crop sizes: 64 px, 128 px" in text
    assert "  - `guided`: where the maps stand out" in text
    assert "  - `random`: (no longer registered)" in text
    assert "items per rater at most: 50" in text and "**Blind**" in text
    assert "| `shape` | SHAPE | category | Contours. |" in text
    assert "### Run 3: hific (hi) (the items' run)" in text
    assert 'Codec `hific`, parameters `{"quality": "hi"}`' in text
    assert "(quality 5 to 12)" in text and f"`{'ab' * 32}`" in text and "cuda:0" in text
    assert "| kodak | 24 | free for research | Eastman Kodak |" in text
    assert "| crop | random | 120 |" in text and "12 earlier revisions" in text
    assert "| Verdict | 40 | 3 | 0.412 [0.301, 0.533] | undefined |" in text
    assert "- Verdict: gwet_ac1: no variation" in text
    assert "| hific (hi) | 0.25 | random | 30 | 0.100 [0.050, 0.200] | undefined |" in text
    assert "| `boxes.coco.json` | COCO" in text and 'coco = COCO("boxes.coco.json")' in text
    assert 'table = pd.read_csv("annotations.csv"' in text
    assert "originals/" not in text
    assert "Blinding hides the codecs' names, not their pixels" in text


def test_simulated_labels_and_an_unblinded_study_are_said_first_and_plainly() -> None:
    simulation = {"raters": 3, "error_rate": 0.15, "seed": 0}
    study = {**_sheet().study, "blind": False}
    text = datasheet(_sheet(simulated=True, simulation=simulation, study=study))
    warning = text.index("> **Simulated labels.** 3 simulated raters")
    assert warning < text.index("## Summary")
    assert "nothing here measures the codecs" in text
    assert "**The labels are simulated**" in text.split("## Limitations")[1]
    assert "**Not blind**" in text and "**Blind**" not in text
    assert "raters knew which pane the neural codec made" in text


def test_originals_are_listed_when_the_bundle_has_them() -> None:
    text = datasheet(_sheet(originals=True, names=True, all_revisions=True))
    assert "`originals/<sha256>.png`" in text
    assert "usernames beside them" in text and "(records here)" in text


def test_an_empty_report_is_said_so() -> None:
    text = datasheet(_sheet(report={}, prevalence_groups=()))
    assert "Agreement on the verdict: not computed." in text
    assert "Not computed: no counted rating." in text
    assert "No rated crop of a codec run." in text


def test_the_report_tables_keep_every_interval() -> None:
    rows = report_tables.agreement_rows(REPORT, STATISTICS)
    columns = report_tables.agreement_columns(STATISTICS)
    assert columns == [
        "question",
        "label",
        "level",
        "items",
        "raters",
        "krippendorff_alpha",
        "krippendorff_alpha_ci95_low",
        "krippendorff_alpha_ci95_high",
        "gwet_ac1",
        "gwet_ac1_ci95_low",
        "gwet_ac1_ci95_high",
        "notes",
    ]
    read = list(csv.DictReader(io.StringIO(report_tables.csv_bytes(rows, columns).decode())))
    assert read[0]["krippendorff_alpha_ci95_high"] == "0.533"
    assert read[0]["gwet_ac1"] == "" and read[0]["notes"] == "gwet_ac1: no variation"
    prevalence = report_tables.prevalence_rows(REPORT)
    assert prevalence == [
        {
            "codec": "hific (hi)",
            "bpp_bucket": 0.25,
            "method": "random",
            "outcome": "miscompression",
            "items": 30,
            "prevalence": 0.1,
            "prevalence_ci95_low": 0.05,
            "prevalence_ci95_high": 0.2,
            "note": "",
        }
    ]
    assert list(prevalence[0]) == report_tables.PREVALENCE_COLUMNS


@pytest.mark.parametrize(
    ("value", "ci", "shown"),
    [
        (None, None, "undefined"),
        (0.5, None, "0.500"),
        (-0.1, [-0.2, 0.0], "-0.100 [-0.200, 0.000]"),
    ],
)
def test_an_estimate_is_shown_with_its_interval_and_never_as_a_number_when_undefined(
    value: float | None, ci: list[float] | None, shown: str
) -> None:
    assert report_tables.estimate_text(value, ci) == shown
