"""`miscomp runs`: codec runs over datasets, queued for the Celery workers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from app.cli.helpers import (
    Database,
    Tick,
    cli_session,
    counting_bar,
    database,
    follow,
    parse_params,
    user_errors,
)
from app.config import get_settings
from app.domain.exports import formats as export_formats
from app.errors import UserError

group = typer.Typer(help="Codec runs over datasets.", no_args_is_help=True)


@group.command("create")
@user_errors
def runs_create(
    dataset: Annotated[str, typer.Option(help="Dataset name.")],
    codec: Annotated[str, typer.Option(help="Codec name (see `miscomp codecs list`).")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="Codec parameter KEY=VALUE; one KEY=V1,V2,... (or KEY=ladder) sweeps it: "
            "one run per value."
        ),
    ] = None,
    seed: Annotated[list[int] | None, typer.Option(help="Seed; repeat for several.")] = None,
    match_jpeg: Annotated[
        bool | None,
        typer.Option(
            "--match-jpeg/--no-match-jpeg",
            help="Add a JPEG matched to each reconstruction's bpp (default: neural).",
        ),
    ] = None,
    jpeg_param: Annotated[
        list[str] | None, typer.Option(help="JPEG reference flag KEY=VALUE (subsampling...).")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Map to compute: difference, ssim, ciede2000 (default all)."),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run with a progress bar.")] = False,
) -> None:
    """Queue a codec run over a dataset, or a sweep: one run per value of a parameter."""
    from app.codec_runs import service, sweeps
    from app.codec_runs.schemas import ALL_MAPS, RunCreate, SweepCreate
    from app.datasets import service as dataset_service

    fixed, swept = _split_sweep(param or [])
    with database() as db:
        with db.session() as session:
            found = dataset_service.find_dataset_by_name(session, dataset)
            if found is None:
                raise UserError(f"no dataset named {dataset!r}")
            fields = {
                "dataset_id": found.id,
                "codec": codec,
                "params": parse_params(fixed),
                "seeds": seed or [0],
                "match_jpeg": match_jpeg,
                "jpeg_params": parse_params(jpeg_param or []),
                "maps": map_ if map_ is not None else list(ALL_MAPS),
            }
            if swept is None:
                run_ids = [service.create_run(session, RunCreate(**fields), actor=None).id]
                message = f"run {run_ids[0]} queued"
            else:
                key, values = swept
                spec = {"param": key, "values": values}
                sweep, runs = sweeps.create_sweep(
                    session, SweepCreate(**fields, sweep=spec), actor=None
                )
                run_ids = [run.id for run in runs]
                message = (
                    f"sweep {sweep.id}: {len(runs)} runs queued ({', '.join(map(str, run_ids))}),"
                    f" {key} = {', '.join(map(str, sweep.values))}"
                )
        typer.echo(message)
        if wait:
            for run_id in run_ids:
                follow_run(db, run_id)


def _split_sweep(pairs: list[str]) -> tuple[list[str], tuple[str, Any] | None]:
    """The ``--param`` pairs that set one value, and the one that sweeps (KEY=V1,V2,... or
    KEY=ladder), if any."""
    from app.domain import sweeps as sweep_values

    fixed: list[str] = []
    swept: list[tuple[str, Any]] = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if sep and key and sweep_values.is_sweep(value):
            try:
                swept.append((key, sweep_values.parse_values(value)))
            except ValueError as exc:
                raise UserError(f"--param {pair!r}: {exc}") from None
        else:
            fixed.append(pair)
    if len(swept) > 1:
        raise UserError(
            f"a sweep varies one parameter; {', '.join(k for k, _ in swept)} each list several"
            " values"
        )
    return fixed, swept[0] if swept else None


# The worker marks the run done just after it commits the last result, so a look between the
# two sees nothing in progress and the run still running; only a worker lost in that instant
# leaves it so for long (the periodic sweep then finishes it).
IDLE_RUN_GRACE_S = 10.0


def follow_run(db: Database, run_id: int) -> None:
    """A progress bar until the run is done or cancelled, or has had nothing in progress for
    ``IDLE_RUN_GRACE_S``."""
    from app.codec_runs import service
    from app.codec_runs.models import RUN_ENDED_STATUSES
    from app.codec_runs.schemas import RunProgress

    idle_since: list[float] = []

    def look() -> Tick[tuple[str, RunProgress]]:
        with db.reading() as session:
            run = service.get_run(session, run_id)
            progress = service.progress(session, run)
            status = run.status
        rate = f"{progress.images_per_s:.2f} img/s" if progress.images_per_s else ""
        if progress.active:
            idle_since.clear()
        elif not idle_since:
            idle_since.append(time.monotonic())
        idle_long = bool(idle_since) and time.monotonic() - idle_since[0] >= IDLE_RUN_GRACE_S
        return Tick(
            state=(status, progress),
            finished=status in RUN_ENDED_STATUSES or idle_long,
            completed=progress.finished,
            total=progress.total,
            fields={"rate": rate},
        )

    columns = (
        TextColumn(f"[bold]run {run_id}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    status, progress = follow(columns, look, description="run").state
    typer.echo(
        f"run {run_id} {status}: {progress.done} done, {progress.failed} failed, "
        f"{progress.invalid} invalid, {progress.cancelled} cancelled"
    )


@group.command("import")
@user_errors
def runs_import(
    manifest: Annotated[Path, typer.Argument(help="CSV or JSON manifest of reconstructions.")],
    dataset: Annotated[str, typer.Option(help="Dataset the originals belong to.")],
    match_jpeg: Annotated[
        bool, typer.Option("--match-jpeg/--no-match-jpeg", help="Add bpp-matched JPEGs.")
    ] = True,
    wait: Annotated[bool, typer.Option(help="Follow the post-processing.")] = False,
) -> None:
    """Import reconstructions made elsewhere (one run per codec label and parameters)."""
    from app.codec_runs.imports import import_manifest
    from app.datasets import service as dataset_service
    from app.storage import media_storage

    settings = get_settings()
    with database() as db:
        with db.session() as session:
            found = dataset_service.find_dataset_by_name(session, dataset)
            if found is None:
                raise UserError(f"no dataset named {dataset!r}")
            runs = import_manifest(
                session,
                media_storage(settings),
                found,
                manifest,
                match_jpeg=match_jpeg,
            )
            summary = [(run.id, run.params["label"], len(run.image_ids or [])) for run in runs]
        for run_id, label, count in summary:
            typer.echo(f"run {run_id}: {label}, {count} images imported")
        if wait:
            for run_id, _, _ in summary:
                follow_run(db, run_id)


@group.command("list")
@user_errors
def runs_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Codec runs, newest first, with their progress."""
    from app.codec_runs import service
    from app.codec_runs.schemas import RunRead

    with cli_session() as session:
        runs = [
            RunRead.model_validate(r).model_copy(update={"progress": service.progress(session, r)})
            for r in service.list_runs(session)
        ]
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
        return
    for r in runs:
        p = r.progress
        assert p is not None
        typer.echo(
            f"{r.id}\t{r.codec}\t{json.dumps(r.params)}\t{r.status}\t"
            f"{p.done}/{p.total} done, {p.failed} failed"
        )


@group.command("show")
@user_errors
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Every result, machine-readable.")
    ] = False,
) -> None:
    """A run and every result: files, bits, bpp, metrics, the matched JPEG, errors."""
    from app.codec_runs.reports import run_report
    from app.storage import media_storage

    settings = get_settings()
    with cli_session() as session:
        report = run_report(session, run_id, storage=media_storage(settings))
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    p = report.progress
    assert p is not None
    typer.echo(
        f"run {report.id}: {report.codec} {json.dumps(report.params)} on dataset "
        f"{report.dataset_id}, {report.status}, {p.done}/{p.total} done"
    )
    for r in report.results:
        psnr = r.metrics.get("psnr_rgb")
        line = f"  {r.image_filename:30} seed {r.seed}  {r.status:9}"
        if r.bpp is not None:
            line += f" {r.bpp:.4f} bpp"
        if psnr is not None:
            line += f"  {psnr:.2f} dB"
        if r.jpeg_quality is not None:
            line += f"  JPEG q{r.jpeg_quality} {r.jpeg_bpp:.4f} bpp ({r.jpeg_status})"
        if r.error:
            line += f"  error: {r.error}"
        typer.echo(line)


@group.command("cancel")
@user_errors
def runs_cancel(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Stop a run: queued work is dropped; work in progress finishes its current step."""
    from app.codec_runs import service

    with cli_session() as session:
        service.cancel_run(session, run_id)
    typer.echo(f"run {run_id} cancelled")


@group.command("retry")
@user_errors
def runs_retry(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Queue a run's failed and invalid results again."""
    from app.codec_runs import service

    with cli_session() as session:
        count = service.retry_run(session, run_id)
    typer.echo(f"run {run_id}: {count} results queued again")


@group.command("export")
@user_errors
def runs_export(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    out: Annotated[Path, typer.Option(help="The file to write (replaced when complete).")],
    format_name: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"{', '.join(export_formats.names(studies=False))} (docs/exports.md).",
        ),
    ] = "csv",
) -> None:
    """Export a run's results, one row per image and seed: the image, the codec, bits, bpp,
    times, every metric and the matched JPEG, streaming, with a progress bar."""
    from app.codec_runs import service
    from app.exports import service as export_service
    from app.exports.runs import count_results

    export_service.run_export_format(format_name)  # an unknown format fails before any work
    with database() as db, db.reading() as session:
        run = service.get_run(session, run_id)
        with counting_bar("exporting", count_results(session, run.id)) as progress:
            written = export_service.export_run(
                session, run, out, format_name=format_name, progress=progress
            )
    typer.echo(f"wrote {written} results to {out}")
