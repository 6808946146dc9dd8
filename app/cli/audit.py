"""`miscomp audit ORIGINAL RECONSTRUCTION` and `miscomp runs audit RUN`: where a neural
codec's output is most likely miscompressed (``app/detector/audit.py``), offline with the
shipped detector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app.cli.helpers import cli_session, user_errors
from app.config import get_settings
from app.errors import UserError

ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Detector weights (default: the configured or shipped one)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _detector(model_file: Path | None) -> Any:
    from app.detector import model

    try:
        return model.load(model_file or get_settings().detector_weights, model.pick_device())
    except (FileNotFoundError, RuntimeError) as exc:
        raise UserError(str(exc)) from None


def _image(path: Path) -> NDArray[np.uint8]:
    from app.domain.images import ImageRejected, decode_image

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        decoded = decode_image(path.read_bytes(), max_pixels=get_settings().max_image_pixels)
    except ImageRejected as exc:
        raise UserError(f"{path}: {exc}") from None
    return np.asarray(decoded.rgb, dtype=np.uint8)


def _print(report: dict[str, Any]) -> None:
    bpp = f", {report['bpp']:.4f} bpp" if report.get("bpp") is not None else ""
    typer.echo(f"{report['width']} x {report['height']} pixels{bpp}; risk {report['risk']:.3f}")
    typer.echo("metrics: " + ", ".join(f"{k} {v}" for k, v in report["metrics"].items()))
    typer.echo("regions most likely miscompressed (x, y, size, share of the image):")
    for rank, region in enumerate(report["regions"], 1):
        scores = "  ".join(f"{k} {v:.3f}" for k, v in region["scores"].items())
        typer.echo(
            f"  {rank:2}. ({region['x']}, {region['y']}) {region['size']} px "
            f"{region['share_percent']:.2f} %  {scores}"
        )
    changes = report["text_changes"]
    typer.echo(f"text read differently ({report['ocr']}): {len(changes)}")
    for change in changes:
        typer.echo(
            f"  {change['before']!r} -> {change['after']!r} ({change['kind']}) at {change['box']}"
        )


@user_errors
def audit(
    original: Annotated[Path, typer.Argument(help="The original image.")],
    reconstruction: Annotated[Path, typer.Argument(help="Its reconstruction by a codec.")],
    as_json: JsonOption = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML page.")
    ] = None,
    regions: Annotated[int, typer.Option(min=1, max=100, help="Regions to report.")] = 10,
    size: Annotated[int, typer.Option(min=16, max=1024, help="Side of a region, pixels.")] = 64,
    ocr: Annotated[bool, typer.Option(help="Compare the text OCR reads in both.")] = True,
    model_file: ModelOption = None,
) -> None:
    """Where RECONSTRUCTION most likely changed the meaning of ORIGINAL: regions ranked by
    the detector with their category scores, text read differently, metrics."""
    from app.detector.audit import audit as audit_pair
    from app.detector.audit import audit_html

    before, after = _image(original), _image(reconstruction)
    try:
        found = audit_pair(
            before, after, _detector(model_file), regions=regions, size=size, ocr=ocr
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    report = found.as_json()
    if html is not None:
        title = f"{original.name} against {reconstruction.name}"
        html.write_text(audit_html(found, before, after, title))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print(report)
        if html is not None:
            typer.echo(f"wrote {html}")


@user_errors
def runs_audit(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    as_json: JsonOption = False,
    size: Annotated[int, typer.Option(min=16, max=1024, help="Side of a region, pixels.")] = 64,
    ocr: Annotated[bool, typer.Option(help="Compare the text OCR reads in both.")] = False,
    model_file: ModelOption = None,
) -> None:
    """Every finished image of a run, ranked by risk (its highest region's score)."""
    from app.detector.audit import audit_run
    from app.storage import media_storage

    detector = _detector(model_file)
    storage = media_storage(get_settings())
    with (
        cli_session() as session,
        Progress(TextColumn("[bold]auditing[/bold]"), BarColumn(), MofNCompleteColumn()) as bar,
    ):
        task = bar.add_task("audit", total=None)
        ranked = audit_run(
            session,
            storage,
            run_id,
            detector,
            size=size,
            ocr=ocr,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, "images": ranked}, indent=2))
        return
    typer.echo(f"run {run_id}: {len(ranked)} images, riskiest first")
    for entry in ranked:
        top = entry["regions"][0] if entry["regions"] else None
        where = f"({top['x']}, {top['y']}) {top['size']} px" if top else "-"
        bpp = f"{entry['bpp']:.4f} bpp" if entry.get("bpp") is not None else ""
        typer.echo(
            f"  {entry['risk']:.3f}  {entry['image']:30} {bpp:12} top region {where}"
            f"  text changes {len(entry['text_changes'])}"
        )
