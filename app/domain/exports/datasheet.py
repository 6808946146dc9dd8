"""The datasheet of an export bundle (its README.md): what the study asked, of which codecs
and images, who answered, how far they agree, how often codecs miscompress, under which
licences, how to load each file and what the data cannot say.

Pure: a function from plain data (``datasheet_input.Datasheet``, gathered by
``app/exports/bundle_sheet.py``) to Markdown, tested on hand-made input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from app.domain.exports import bundle_layout as layout
from app.domain.exports.datasheet_input import Datasheet
from app.domain.exports.report_tables import estimate_text


def datasheet(sheet: Datasheet) -> str:
    """The bundle's README.md."""
    parts = [
        f"# Datasheet: {sheet.study['name']}",
        *_warnings(sheet),
        _introduction(sheet),
        _summary(sheet),
        _design(sheet),
        _taxonomy(sheet),
        _codecs(sheet),
        _sources(sheet),
        _counts(sheet),
        _agreement(sheet),
        _prevalence(sheet),
        _files(sheet),
        _limitations(sheet),
    ]
    return "\n\n".join(part.strip("\n") for part in parts if part) + "\n"


def _cell(value: Any) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _percent(share: float) -> str:
    return f"{100 * share:g} %"


def _warnings(sheet: Datasheet) -> list[str]:
    if not sheet.simulated:
        return []
    simulation = sheet.simulation or {}
    how = (
        f"{simulation['raters']} simulated raters, each departing from an item's latent answer "
        f"with probability {simulation['error_rate']} (seed {simulation['seed']}),"
        if {"raters", "error_rate", "seed"} <= simulation.keys()
        else "Simulated raters"
    )
    return [
        f"> **Simulated labels.** {how} gave every label of this study (`miscomp studies "
        "simulate`), not people. The agreement and prevalence below show what a study of this "
        "size gives such raters; nothing here measures the codecs or human perception."
    ]


def _introduction(sheet: Datasheet) -> str:
    study = sheet.study
    return (
        f"Study {study['id']} of miscomp, exported {sheet.exported_at}. Raters looked at crops "
        "of original images beside their reconstructions by the codecs below (and, where "
        "shown, a JPEG at the same bits per pixel), and said whether a *miscompression* "
        "shows: a semantic change made by lossy compression, such that someone describing "
        "the original and the reconstruction in words would describe them differently. They "
        f"named its kind with the taxonomy {study['taxonomy']} and drew boxes where it shows."
    )


def _headline(sheet: Datasheet) -> str:
    verdict = next((q for q in sheet.report.get("questions", []) if q["key"] == "verdict"), None)
    if verdict is None:
        return "not computed"
    key, label = sheet.statistics[0]
    return f"{label} {estimate_text(verdict.get(key), verdict.get(f'{key}_ci95'))}"


def _blinding(sheet: Datasheet) -> str:
    if sheet.study["blind"]:
        return (
            "**Blind**: raters saw the original and the compared panes under the labels A, B... "
            "in a random order per rater and item; no page, image name or header named the "
            "codec, and the difference pane (which belongs to the reconstruction alone) was "
            "not shown. The files here name every pane (`label.pane_map` keeps what each rater "
            "saw)."
        )
    return (
        "**Not blind**: raters saw each pane under its name (reconstruction, jpeg...), so "
        "they knew which pane the neural codec made; their judgements may carry that "
        "knowledge."
    )


def _labellers(sheet: Datasheet) -> str:
    return "simulated raters" if sheet.simulated else "people"


def _summary(sheet: Datasheet) -> str:
    counts, study = sheet.counts, sheet.study
    items = sum(n for _, _, n in counts.items)
    return "\n".join(
        [
            "## Summary",
            "",
            f"- {items} items, {counts.annotations} annotations by {counts.raters} raters "
            f"({counts.counted} counted ratings, k = {study['raters_per_item']} per item).",
            f"- Agreement on the verdict: {_headline(sheet)}.",
            "- "
            + (
                "Blind: compared panes shown as A, B... in a random order, codecs hidden."
                if sheet.study["blind"]
                else "Not blind: raters saw which pane each codec made."
            ),
            f"- Labels given by {_labellers(sheet)}.",
        ]
    )


def _design(sheet: Datasheet) -> str:
    study = sheet.study
    quotas = ", ".join(f"{kind} {_percent(share)}" for kind, share in study["quotas"].items())
    methods = [
        f"  - `{name}`: {sheet.method_descriptions.get(name, '(no longer registered)')}"
        for name in study["methods"]
    ]
    cap = study["per_rater_cap"]
    return "\n".join(
        [
            "## Study design",
            "",
            f"- Items: {sheet.items_target} asked for, in quotas {quotas}"
            + (
                " (half the controls planted changes of known place)"
                if sheet.planted_controls
                else ""
            )
            + ". Controls show the original as the reconstruction, or a planted change; they "
            "measure raters and are left out of every statistic.",
            f"- Crop sizes: {', '.join(f'{s} px' for s in study['crop_sizes'])}, square, 1:1 "
            "cut-outs of the original (no scaling).",
            "- Proposal methods (how crops were chosen):",
            *methods,
            f"- Raters per item (k): {study['raters_per_item']}; items per rater at most: "
            f"{cap if cap is not None else 'no cap'}; lease {sheet.lease_s} s.",
            f"- Panes shown: {', '.join(study['panes'])}.",
            f"- {_blinding(sheet)}",
            f"- Seed of the crop sampling and the pane orders: {study['seed']}.",
            f"- Boxes of different raters count as the same region from IoU {sheet.region_iou}.",
        ]
    )


def _taxonomy(sheet: Datasheet) -> str:
    rows = [
        (f"`{c['key']}`", c.get("label") or "", c.get("kind") or "", c.get("description") or "")
        for c in sheet.study["taxonomy_categories"]
    ]
    verdicts = ", ".join(f"`{v['key']}` ({v.get('label', v['key'])})" for v in sheet.verdicts)
    return "\n".join(
        [
            f"## Taxonomy: {sheet.study['taxonomy']}",
            "",
            f"Verdicts: {verdicts}. A miscompression is named by its categories (what happens "
            "to the signal) and modifiers (its semantic impact, such as SYMBOL).",
            "",
            _table(["Key", "Label", "Kind", "Definition"], rows),
        ]
    )


def _codecs(sheet: Datasheet) -> str:
    lines = ["## Codecs and settings"]
    for run in sheet.runs:
        role = "the items' run" if run.role == "compared" else "versus run (the `versus` pane)"
        bpp = f"{run.bpp_range[0]:.4g} to {run.bpp_range[1]:.4g}" if run.bpp_range else "none"
        jpeg = "no"
        if run.match_jpeg:
            quality = run.jpeg_quality_range
            jpeg = "yes, a JPEG coded to the reconstruction's bpp" + (
                f" (quality {quality[0]} to {quality[1]})" if quality else ""
            )
            if run.jpeg_params:
                jpeg += f", settings `{json.dumps(run.jpeg_params, sort_keys=True)}`"
        lines += [
            "",
            f"### Run {run.id}: {run.label} ({role})",
            "",
            f"- Codec `{run.codec}`, parameters `{json.dumps(run.params, sort_keys=True)}`.",
            f"- Dataset {run.dataset}; seeds {', '.join(map(str, run.seeds)) or 'none'}; "
            f"{run.results} finished results; bpp {bpp}.",
            f"- Matched JPEG: {jpeg}.",
            "- Weights sha256: "
            + (", ".join(f"`{w}`" for w in run.weights_sha256) or "none recorded (not learned)"),
            f"- Ran on: {', '.join(run.devices) or 'not recorded'}.",
        ]
    return "\n".join(lines)


def _sources(sheet: Datasheet) -> str:
    rows = [
        (d.name, d.images, d.license or "not stated", d.source or "not stated")
        for d in sheet.datasets
    ]
    return "\n".join(
        [
            "## Source images: licences and attribution",
            "",
            "Every image file here (crops, the crop table, originals) is derived from these "
            "images, and their licences and attribution apply to it.",
            "",
            _table(["Dataset", "Images used", "Licence", "Attribution (source)"], rows),
        ]
    )


def _counts(sheet: Datasheet) -> str:
    counts = sheet.counts
    adjudicated = ", ".join(f"{n} {verdict}" for verdict, n in counts.adjudications) or "none"
    return "\n".join(
        [
            "## Counts",
            "",
            _table(["Kind", "Method", "Items"], counts.items),
            "",
            f"- Raters: {counts.raters} (pseudonyms R01, R02... in the order they joined"
            + (", usernames beside them" if sheet.names else "")
            + ").",
            f"- Annotations: {counts.annotations} current, {counts.revisions} earlier revisions "
            + ("(records here)" if sheet.all_revisions else "(not in the records)")
            + f"; {counts.counted} counted ratings; {counts.late} late (kept, beyond k).",
            f"- Adjudicated items: {adjudicated}.",
        ]
    )


def _agreement(sheet: Datasheet) -> str:
    questions = sheet.report.get("questions", [])
    header = ["Question", "Items", "Raters", *(label for _, label in sheet.statistics)]
    rows = [
        (
            q["label"],
            q.get("n_pairable_units"),
            q.get("n_raters"),
            *(estimate_text(q.get(key), q.get(f"{key}_ci95")) for key, _ in sheet.statistics),
        )
        for q in questions
    ]
    notes = [f"- {q['label']}: {note}" for q in questions for note in q.get("notes") or []]
    regions = sheet.report.get("regions") or {}
    lines = [
        "## Agreement",
        "",
        "Over the k counted ratings of each crop item (late ratings and controls left out), "
        f"with bootstrap 95 % intervals that resample items ({sheet.replicates} replicates, "
        "seeded by the study). `undefined` says why in the notes; it is never 0 or 1. "
        f"Table: `{layout.AGREEMENT_CSV}`; figure: "
        f"`{layout.figure_member(layout.AGREEMENT_FIGURE, 'svg')}`.",
        "",
        _table(header, rows) if rows else "Not computed: no counted rating.",
    ]
    if notes:
        lines += ["", "Notes:", "", *notes]
    if regions:
        lines += [
            "",
            f"Boxes: {regions['n_boxes']} in {regions['n_regions']} regions; matched share "
            f"{estimate_text(regions['matched_share']['value'])}, mean IoU of matches "
            f"{estimate_text(regions['mean_iou']['value'])}, alpha over regions "
            f"{estimate_text(regions['alpha']['value'])}.",
        ]
    return "\n".join(lines)


def _prevalence(sheet: Datasheet) -> str:
    outcomes = sheet.report.get("outcomes", [])
    header = ["Codec", "bpp from", "Crops", "Items", *(o.split(":")[-1] for o in outcomes)]
    rows = []
    for group in sheet.prevalence_groups:
        cells = group["cells"]
        rows.append(
            (
                group["codec"],
                group["bpp_bucket"],
                group["method"],
                group["n_items"],
                *(
                    estimate_text(cells[o]["value"], cells[o]["ci95"])
                    if o in cells
                    else "undefined"
                    for o in outcomes
                ),
            )
        )
    return "\n".join(
        [
            "## Prevalence per codec and bitrate",
            "",
            "Random crops: the share of crop positions that raters judge miscompressed, "
            "weighted by each crop's inclusion probability (a Hajek estimate over every "
            "position of the codec's reconstructions in the half-octave bpp bucket), with "
            "bootstrap 95 % intervals. Guided crops are shown apart: they say what the guides "
            "found, not how often it happens. "
            f"Table: `{layout.PREVALENCE_CSV}`; figure: "
            f"`{layout.figure_member(layout.PREVALENCE_FIGURE, 'svg')}`.",
            "",
            _table(header, rows) if rows else "No rated crop of a codec run.",
        ]
    )


_RECORD_LOADERS = {
    "jsonl": 'records = pd.read_json("{m}", lines=True)  # nested: pd.json_normalize',
    "csv": 'table = pd.read_csv("{m}", keep_default_na=False)',
    "parquet": 'frame = pd.read_parquet("{m}")  # or pyarrow.parquet.read_table, datasets',
    "coco": 'coco = COCO("{m}")  # bbox [x, y, w, h] in original-image pixels',
}


def _files(sheet: Datasheet) -> str:
    rows = [(f"`{layout.README}`", "This datasheet.")]
    rows += [
        (f"`{member}`", f"One record per annotation ({name}); columns in docs/exports.md.")
        for name, member in sheet.record_files
        if name != "coco"
    ]
    rows += [
        (f"`{member}`", "COCO detection JSON of the boxes, on the original images.")
        for name, member in sheet.record_files
        if name == "coco"
    ]
    rows += [
        (
            f"`{layout.CROP_TABLE}`",
            "One row per item and pane: the PNG as an image column, item, pane, crop box, "
            "codec and bpp.",
        ),
        (
            f"`{layout.CROPS_DIR}/<item id>/<pane>.png`",
            f"{sheet.crops} lossless PNGs, panes by name (original, reconstruction, jpeg, "
            "versus, difference, as rendered).",
        ),
        (f"`{layout.REPORT}`", "The study's report: agreement, prevalence, raters, regions."),
        (f"`{layout.AGREEMENT_CSV}`", "The agreement table, intervals in two columns."),
        (f"`{layout.PREVALENCE_CSV}`", "Prevalence per codec, bpp bucket, method and outcome."),
        (
            f"`{layout.RESULTS_DIR}/{{agreement,prevalence}}.{{{','.join(layout.FIGURE_FORMATS)}}}`",
            "The figures of the results page.",
        ),
    ]
    if sheet.originals:
        rows.append(
            (
                f"`{layout.ORIGINALS_DIR}/<sha256>.png`",
                "The full originals, named by the sha256 of their 8-bit RGB pixels "
                "(`image.sha256` of the records).",
            )
        )
    loaders = [
        _RECORD_LOADERS.get(name, '"{m}"  # see docs/exports.md').format(m=member)
        for name, member in sheet.record_files
    ]
    code = [
        "import json",
        "import datasets, pandas as pd",
        "from pycocotools.coco import COCO",
        "",
        *loaders,
        f'crops = datasets.load_dataset("parquet", data_files="{layout.CROP_TABLE}", '
        'split="train")',
        'crops[0]["image"]  # a PIL image; pd.read_parquet gives {bytes, path}',
        f'report = json.load(open("{layout.REPORT}"))',
        f'agreement = pd.read_csv("{layout.AGREEMENT_CSV}")',
    ]
    return "\n".join(
        ["## Files", "", _table(["File", "What"], rows), "", "```python", *code, "```"]
    )


def _limitations(sheet: Datasheet) -> str:
    lines = ["## Limitations", ""]
    if sheet.simulated:
        lines.append(
            "- **The labels are simulated**: they test the pipeline and the statistics, and say "
            "nothing about codecs or people."
        )
    if sheet.study["blind"]:
        blinding = (
            "- Blinding hides the codecs' names, not their pixels: a rater who knows how a "
            "codec looks (JPEG's blocks, say) may still tell the panes apart."
        )
    else:
        blinding = (
            "- The study was not blind: raters knew which pane the neural codec made, and "
            "their judgements may lean on that knowledge."
        )
    lines += [
        blinding,
        "- Whether a change is a miscompression is a judgement: it rests on how an observer "
        "would describe the detail in words, and so on the observer's experience, language "
        f"and culture. Each item had k = {sheet.study['raters_per_item']} raters; the "
        "agreement above says how far they share it.",
        "- The taxonomy is provisional: texture changes, for one, are not a category of their "
        "own, and a change may combine several categories. Whether something is a SYMBOL "
        "depends on the cultural context of the scene.",
        "- Raters saw crops, not whole images: a change visible only in a wider context "
        "(offered as zoomed-out views) may be missed, and the crops cover a small share of "
        "each image.",
        "- Only random crops estimate prevalence; guided crops were chosen where the codec "
        "changed the most, so their shares are far above any prevalence.",
        "- Prevalence is per crop position of these images, codecs and bitrates; other "
        "images (faces, text, small objects on busy backgrounds) may fare differently.",
    ]
    return "\n".join(lines)
