"""The `miscomp` command: thin over the services; user mistakes get one line, no traceback."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from app import install_session_listeners
from app.config import get_settings
from app.datasets.models import ImportJob
from app.db import make_engine, make_sessionmaker, session_scope
from app.domain.roles import Role
from app.errors import UserError

app = typer.Typer(help="miscomp: find, label and measure miscompressions.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
datasets_app = typer.Typer(help="Datasets and image imports.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(datasets_app, name="datasets")
runs_app = typer.Typer(help="Codec runs over datasets.", no_args_is_help=True)
codecs_app = typer.Typer(help="Codecs available on this machine.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(codecs_app, name="codecs")
studies_app = typer.Typer(help="Studies: crops, raters, blinding.", no_args_is_help=True)
app.add_typer(studies_app, name="studies")
metrics_app = typer.Typer(help="Learned perceptual metrics on this machine.", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")
agreement_app = typer.Typer(help="Agreement between raters.", no_args_is_help=True)
app.add_typer(agreement_app, name="agreement")

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn the errors a user can cause into one clear line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            raise fail(exc.message) from None
        except ValidationError as exc:
            raise fail(
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            ) from None
        except (OperationalError, ProgrammingError) as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            if "no such table" in detail or "does not exist" in detail:
                raise fail(
                    f"the database is not migrated ({detail}); run `miscomp db upgrade`"
                ) from None
            raise fail(f"database error: {detail}") from None

    return wrapper  # type: ignore[return-value]


def _sessionmaker() -> sessionmaker[Session]:
    install_session_listeners()
    return make_sessionmaker(make_engine(get_settings().database_url))


@db_app.command("upgrade")
@user_errors
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations (to the newest schema by default)."""
    from app.migrate import upgrade

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}: {_redacted(settings.database_url)}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Reload on code changes.")] = False,
    workers: Annotated[int, typer.Option(help="Web server processes (about one per core).")] = 1,
) -> None:
    """Run the web server (uvicorn)."""
    import uvicorn

    if reload and workers > 1:
        raise fail("--reload runs one process; leave out --workers")
    uvicorn.run(
        "app.asgi:app", host=host, port=port, reload=reload, workers=workers, proxy_headers=True
    )


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to consume.")
    ] = "cpu,gpu,post",
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "info",
) -> None:
    """Run a Celery worker on the given queues."""
    from workers.celery_app import celery_app

    celery_app.worker_main(
        ["worker", f"--queues={queues}", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    )


@users_app.command("create")
@user_errors
def users_create(
    name: Annotated[str, typer.Argument(help="Username.")],
    role: Annotated[Role, typer.Option(help="admin, researcher or annotator.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user. The password comes from a prompt, or from stdin with --password-stdin."""
    from app.users import service
    from app.users.schemas import UserCreate

    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    data = UserCreate(username=name, role=role, password=password)
    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "cli"
        user = service.create_user(session, data)
        typer.echo(f"created {user.role.value} {user.username!r} (id {user.id})")


@users_app.command("list")
@user_errors
def users_list() -> None:
    """List users."""
    from app.users import service

    with session_scope(_sessionmaker()) as session:
        for user in service.list_users(session):
            state = "" if user.is_active else " (inactive)"
            typer.echo(f"{user.id}\t{user.username}\t{user.role.value}{state}")


@datasets_app.command("list")
@user_errors
def datasets_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List datasets with their image counts."""
    from app.datasets import service

    with session_scope(_sessionmaker()) as session:
        summaries = service.list_datasets(session)
        if as_json:
            typer.echo(
                json.dumps(
                    [
                        {
                            "id": s.dataset.id,
                            "name": s.dataset.name,
                            "images": s.image_count,
                            "license": s.dataset.license,
                            "source": s.dataset.source,
                        }
                        for s in summaries
                    ],
                    indent=2,
                )
            )
            return
        if not summaries:
            typer.echo("no datasets")
        for s in summaries:
            typer.echo(f"{s.dataset.id}\t{s.dataset.name}\t{s.image_count} images")


@datasets_app.command("import")
@user_errors
def datasets_import(
    path: Annotated[Path, typer.Argument(help="A folder, a zip archive or one image file.")],
    name: Annotated[str, typer.Option(help="Dataset name; created when it does not exist.")],
    license: Annotated[str, typer.Option(help="Licence and attribution text.")] = "",
    description: Annotated[str, typer.Option(help="What the dataset is.")] = "",
    source: Annotated[str, typer.Option(help="Where the images come from.")] = "",
    report: Annotated[bool, typer.Option(help="Print every file's outcome.")] = True,
) -> None:
    """Import images into a dataset, with a progress bar and a per-file report."""
    job = import_path(path, name=name, license=license, description=description, source=source)
    if report:
        _print_report(job.id)
    typer.echo(
        f"import {job.id}: {job.n_imported} imported, {job.n_duplicate} duplicates, "
        f"{job.n_failed} failed, {job.n_skipped} skipped"
    )


def import_path(
    path: Path, *, name: str, license: str = "", description: str = "", source: str = ""
) -> ImportJob:
    from app.datasets import importer
    from app.datasets import service as dataset_service
    from app.datasets.schemas import DatasetCreate
    from app.storage import LocalMediaStorage

    settings = get_settings()
    factory = _sessionmaker()
    with session_scope(factory) as session:
        session.info["actor_label"] = "cli"
        dataset = dataset_service.get_dataset_by_name(session, name)
        if dataset is None:
            dataset = dataset_service.create_dataset(
                session,
                DatasetCreate(
                    name=name, license=license, description=description, source=source or str(path)
                ),
                actor=None,
            )
        job = importer.create_path_import(session, dataset, path, actor=None)
        job_id = job.id
    with Progress(
        TextColumn("[bold]importing[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task(str(path), total=None)

        def show(current: ImportJob) -> None:
            progress.update(task, total=current.total or None, completed=current.processed)

        return importer.execute_import(
            factory,
            LocalMediaStorage(settings.media_root),
            settings,
            job_id,
            actor_label="cli",
            progress=show,
        )


def _print_report(import_id: int) -> None:
    from app.datasets import service

    with session_scope(_sessionmaker()) as session:
        for f in service.import_files(session, import_id):
            line = f"{f.outcome:9} {f.name}"
            typer.echo(f"{line}: {f.message}" if f.message else line)


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    """k=v pairs; values are read as JSON where they parse (numbers, booleans, lists)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


@codecs_app.command("list")
def codecs_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Registered codecs, whether they can run here, and why not; below `external`, the
    command-line codecs the operator declared (MISCOMP_EXTERNAL_CODECS), picked by a run with
    `--codec external --param name=NAME`."""
    from app.codec_runs.service import codec_availability
    from app.domain.codecs.external import ExternalCodec

    rows: list[dict[str, Any]] = [dict(r.__dict__) for r in codec_availability()]
    try:
        declared = ExternalCodec.declared(get_settings().operator_setup)
    except ValueError:  # an unreadable file: the external row says why
        declared = []
    for row in rows:
        if row["name"] == "external":
            row["declared"] = [
                {"name": name, "available": available, "detail": detail}
                for name, available, detail in declared
            ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "available" if row["available"] else "UNAVAILABLE"
        typer.echo(f"{row['name']:16} {state:12} {row['detail']}")
        for codec in row.get("declared", []):
            state = "available" if codec["available"] else "UNAVAILABLE"
            typer.echo(f"  name={codec['name']:9} {state:12} {codec['detail']}")


@agreement_app.command("compute")
def agreement_compute(
    input_file: Annotated[Path, typer.Option("--input", help="Long-format CSV: unit,rater,value.")],
    level: Annotated[
        str, typer.Option(help="nominal, ordinal, interval or ratio (for alpha).")
    ] = "nominal",
    replicates: Annotated[
        int, typer.Option(help="Bootstrap replicates for the 95 % intervals (0: none).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Krippendorff's alpha, Fleiss' kappa, Cohen's kappas, Gwet's AC1 and percent agreement
    for ratings made anywhere. An empty value is a missing rating."""
    from app.domain import agreement

    try:
        chosen = agreement.Level(level)
    except ValueError:
        raise fail("--level is nominal, ordinal, interval or ratio") from None
    if replicates < 0:
        raise fail("--replicates must be 0 or more")
    try:
        with input_file.open(newline="", encoding="utf-8-sig") as handle:
            ratings = agreement.read_long_csv(handle, chosen)
        report = agreement.agreement(ratings, chosen, replicates=replicates, seed=seed)
    except OSError as exc:
        raise fail(f"cannot read {input_file}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(f"{input_file}: {exc}") from None
    result = report.as_json()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"{result['n_units']} units, {result['n_raters']} raters, "
        f"{result['n_pairable_units']} units with two or more ratings; level {level}"
    )
    for name in (
        "krippendorff_alpha",
        "fleiss_kappa",
        "cohen_kappa_mean",
        "gwet_ac1",
        "percent_agreement",
    ):
        value = result[name]
        ci = result[f"{name}_ci95"]
        shown = "undefined" if value is None else f"{value:.4f}"
        interval = f"  95 % CI [{ci[0]:.4f}, {ci[1]:.4f}]" if isinstance(ci, list) else ""
        typer.echo(f"  {name:20s} {shown}{interval}")
    for note in result["notes"]:  # type: ignore[attr-defined]
        typer.echo(f"  note: {note}")


@metrics_app.command("list")
def metrics_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Learned perceptual metrics (LPIPS, DISTS): computed where their backbones are local."""
    from app.domain.perceptual import BACKBONES, availability

    weights_dir = get_settings().weights_dir
    rows = [availability(name, weights_dir) for name in BACKBONES]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "available": r.available,
                        "path": str(r.path or ""),
                        "detail": r.reason,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    for row in rows:
        state = "available" if row.available else "UNAVAILABLE"
        typer.echo(f"{row.name:12} {state:12} {row.path or row.reason}")


@codecs_app.command("train")
@user_errors
def codecs_train(
    data: Annotated[Path, typer.Option(help="Folder of training photographs.")],
    out: Annotated[Path, typer.Option(help="Weights file to write (plus .json/.md card).")],
    arch: Annotated[str, typer.Option(help="mbt2018-mean, bmshj2018-hyperprior, ...")] = (
        "mbt2018-mean"
    ),
    n: Annotated[int, typer.Option("--N", help="Channels N.")] = 64,
    m: Annotated[int, typer.Option("--M", help="Channels M.")] = 96,
    lmbda: Annotated[float, typer.Option(help="Rate-distortion lambda (MSE).")] = 0.0035,
    steps: Annotated[int, typer.Option(help="Total training steps.")] = 100_000,
    resume: Annotated[Path | None, typer.Option(help="Training state to resume from.")] = None,
    init: Annotated[
        Path | None, typer.Option(help="Weights to warm-start from (fresh optimisers).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    val: Annotated[Path | None, typer.Option(help="Folder of validation photographs.")] = None,
    batch_size: Annotated[int, typer.Option(help="Crops per step.")] = 8,
    patch: Annotated[int, typer.Option(help="Crop size in pixels.")] = 256,
    lr: Annotated[float, typer.Option(help="Learning rate (Adam).")] = 1e-4,
    val_every: Annotated[int, typer.Option(help="Validate every N steps.")] = 1000,
    checkpoint_every: Annotated[int, typer.Option(help="Save state every N steps.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads.")] = 2,
) -> None:
    """Train a learned codec (CompressAI architecture) with real-bitstream validation.

    The training state is saved beside OUT as OUT.training every --checkpoint-every steps;
    `--resume OUT.training` continues exactly where it stopped."""
    from app.domain.codecs.training import TrainConfig, train

    config = TrainConfig(
        data=data,
        out=out,
        arch=arch,
        N=n,
        M=m,
        lmbda=lmbda,
        steps=steps,
        device=device,
        val=val,
        batch_size=batch_size,
        patch=patch,
        lr=lr,
        val_every=val_every,
        checkpoint_every=checkpoint_every,
        seed=seed,
        threads=threads,
        init=init,
    )
    if init is not None and not init.is_file():
        raise UserError(f"{init}: no such weights file")
    for folder in (data, val):
        if folder is not None and not folder.is_dir():
            raise UserError(f"{folder}: no such folder")
    if resume is not None and not resume.is_file():
        raise UserError(f"{resume}: no such training state")
    with Progress(
        TextColumn("[bold]training[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("train", total=steps, figures="")

        def show(p: Any) -> None:
            figures = f"loss {p.loss:.3f} bpp {p.bpp:.3f} PSNR {p.psnr:.2f}"
            if p.validation:
                figures += f" | val {p.validation['bpp']:.3f} bpp {p.validation['psnr_rgb']:.2f} dB"
            bar.update(task, completed=p.step, figures=figures)

        try:
            card = train(config, resume=resume, report=show)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    typer.echo(f"wrote {out} (sha256 {card['weights_sha256'][:12]}...) and its model card")


@codecs_app.command("pack")
@user_errors
def codecs_pack(
    weights: Annotated[Path, typer.Argument(help="Weights written by `miscomp codecs train`.")],
    out: Annotated[Path, typer.Argument(help="Packed weights file (card written beside it).")],
) -> None:
    """Pack trained weights for shipping: float16, with the model card updated."""
    from app.domain.codecs.training import pack_for_shipping

    if not weights.is_file():
        raise UserError(f"{weights}: no such file")
    try:
        card = pack_for_shipping(weights, out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    size = out.stat().st_size / 1e6
    typer.echo(f"wrote {out} ({size:.2f} MB, sha256 {card['weights_sha256'][:12]}...)")


@runs_app.command("create")
@user_errors
def runs_create(
    dataset: Annotated[str, typer.Option(help="Dataset name.")],
    codec: Annotated[str, typer.Option(help="Codec name (see `miscomp codecs list`).")],
    param: Annotated[list[str] | None, typer.Option(help="Codec parameter KEY=VALUE.")] = None,
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
    """Queue a codec run over a dataset."""
    from app.codec_runs import service
    from app.codec_runs.schemas import ALL_MAPS, RunCreate
    from app.datasets import service as dataset_service

    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "cli"
        found = dataset_service.get_dataset_by_name(session, dataset)
        if found is None:
            raise UserError(f"no dataset named {dataset!r}")
        run = service.create_run(
            session,
            RunCreate(
                dataset_id=found.id,
                codec=codec,
                params=_parse_params(param or []),
                seeds=seed or [0],
                match_jpeg=match_jpeg,
                jpeg_params=_parse_params(jpeg_param or []),
                maps=map_ if map_ is not None else list(ALL_MAPS),
            ),
            actor=None,
        )
        run_id = run.id
    typer.echo(f"run {run_id} queued")
    if wait:
        _follow_run(run_id)


def _follow_run(run_id: int) -> None:
    from app.codec_runs import service

    factory = _sessionmaker()
    with Progress(
        TextColumn(f"[bold]run {run_id}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("run", total=None, rate="")
        while True:
            with factory() as session:
                run = service.get_run(session, run_id)
                progress = service.progress(session, run)
                status = run.status
            rate = f"{progress.images_per_s:.2f} img/s" if progress.images_per_s else ""
            bar.update(task, total=progress.total, completed=progress.finished, rate=rate)
            if status in ("done", "cancelled") or not progress.active:
                break
            time.sleep(0.5)
    typer.echo(
        f"run {run_id} {status}: {progress.done} done, {progress.failed} failed, "
        f"{progress.invalid} invalid, {progress.cancelled} cancelled"
    )


@studies_app.command("create")
@user_errors
def studies_create(
    name: Annotated[str, typer.Option(help="Study name (shown to annotators: keep it neutral).")],
    run: Annotated[list[int], typer.Option(help="Codec run id; repeat for several.")],
    versus: Annotated[
        int | None,
        typer.Option(help="A second run of the same dataset, set against the runs (pane versus)."),
    ] = None,
    size: Annotated[list[int] | None, typer.Option(help="Crop size in px; repeat.")] = None,
    method: Annotated[
        list[str] | None, typer.Option(help="Proposal method: guided, text, random; repeat.")
    ] = None,
    items: Annotated[int, typer.Option(help="Number of items.")] = 300,
    quota: Annotated[
        list[str] | None,
        typer.Option(help="Share of the items, KEY=PERCENT (guided, random, control)."),
    ] = None,
    planted_controls: Annotated[bool, typer.Option(help="Half the controls planted.")] = False,
    k: Annotated[int, typer.Option("--k", help="Raters per item.")] = 3,
    cap: Annotated[int | None, typer.Option(help="Items per rater at most.")] = None,
    lease_s: Annotated[int, typer.Option(help="Lease time in seconds.")] = 900,
    blind: Annotated[bool, typer.Option("--blind/--no-blind", help="Hide codecs.")] = True,
    pane: Annotated[
        list[str] | None,
        typer.Option(
            help="Pane shown: original, reconstruction, jpeg, versus, difference; repeat."
        ),
    ] = None,
    instructions: Annotated[
        Path | None, typer.Option(help="Markdown file with the annotators' instructions.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the crop sampling.")] = 0,
    wait: Annotated[bool, typer.Option(help="Wait until the crops are proposed.")] = False,
) -> None:
    """Create a study; the workers propose its crops, then it opens to annotators."""
    from pydantic import ValidationError

    from app.studies import service
    from app.studies.schemas import StudyCreate

    options: dict[str, Any] = {
        "name": name,
        "run_ids": run,
        "versus_run_id": versus,
        "items": items,
        "planted_controls": planted_controls,
        "raters_per_item": k,
        "per_rater_cap": cap,
        "lease_s": lease_s,
        "blind": blind,
        "seed": seed,
    }
    if size:
        options["crop_sizes"] = size
    if method:
        options["methods"] = method
    if pane:
        options["panes"] = pane
    if quota:
        options["quotas"] = {k: float(v) / 100 for k, v in _parse_params(quota).items()}
    if instructions is not None:
        if not instructions.is_file():
            raise UserError(f"{instructions}: no such file")
        options["instructions"] = instructions.read_text()
    try:
        data = StudyCreate.model_validate(options)
    except ValidationError as exc:
        raise UserError("; ".join(e["msg"] for e in exc.errors())) from None
    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "cli"
        study = service.create_study(session, data, actor=None)
        study_id = study.id
    typer.echo(f"study {study_id} created; the workers are proposing its crops")
    if wait:
        factory = _sessionmaker()
        with Progress(TextColumn("[bold]proposing crops[/bold]"), BarColumn()) as bar:
            bar.add_task("propose", total=None)
            while True:
                with factory() as session:
                    status = service.get_study(session, study_id).status
                if status != "proposing":
                    break
                time.sleep(0.5)
        typer.echo(f"study {study_id} {status}")
        if status == "failed":
            raise typer.Exit(1)


@studies_app.command("list")
def studies_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Studies with their progress."""
    from app.studies import service
    from app.studies.schemas import StudyRead

    with _sessionmaker()() as session:
        rows = [
            StudyRead.model_validate(s).model_copy(
                update={"progress": service.progress(session, s)}
            )
            for s in service.list_studies(session)
        ]
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    for r in rows:
        assert r.progress is not None
        typer.echo(
            f"{r.id:4} {r.name:30} {r.status:10} {r.progress.items:6} items "
            f"{r.progress.ratings_done}/{r.progress.ratings_needed} ratings"
        )


@studies_app.command("show")
@user_errors
def studies_show(
    study_id: Annotated[int, typer.Argument(help="Study id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A study: settings, how its items were proposed, progress per annotator."""
    from app.studies import service
    from app.studies.schemas import StudyRead

    with _sessionmaker()() as session:
        study = service.get_study(session, study_id)
        read = StudyRead.model_validate(study).model_copy(
            update={"progress": service.progress(session, study)}
        )
        raters = service.rater_progress(session, study)
    if as_json:
        typer.echo(json.dumps({**read.model_dump(mode="json"), "raters": raters}, indent=2))
        return
    assert read.progress is not None
    typer.echo(f"study {read.id} {read.name!r}: {read.status}")
    typer.echo(f"  runs {read.run_ids}, crops {read.crop_sizes} px, k={read.raters_per_item}")
    typer.echo(f"  items by method: {read.proposal_report.get('items', {})}")
    typer.echo(
        f"  {read.progress.ratings_done}/{read.progress.ratings_needed} ratings, "
        f"{read.progress.complete_items}/{read.progress.items} items complete"
    )
    for rater in raters:
        typer.echo(f"  {rater['username']:20} done {rater['done']} skipped {rater['skipped']}")


@studies_app.command("equalise")
@user_errors
def studies_equalise(study_id: Annotated[int, typer.Argument(help="Study id.")]) -> None:
    """Pad the panes of a study proposed by an older version to one byte length per item, so
    that a blind rater cannot tell them apart by their size (pixels and URLs stay)."""
    from app.storage import LocalMediaStorage
    from app.studies import proposals, service

    settings = get_settings()
    with session_scope(_sessionmaker()) as session:
        study = service.get_study(session, study_id)
        with Progress(
            TextColumn("[bold]equalising panes[/bold]"), BarColumn(), MofNCompleteColumn()
        ) as bar:
            task = bar.add_task("items", total=None)

            def show(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            changed = proposals.equalise_pane_lengths(
                session, LocalMediaStorage(settings.media_root), study, show
            )
    typer.echo(f"study {study_id}: {changed} pane groups re-encoded to one length")


@studies_app.command("results")
@user_errors
def studies_results(
    study_id: Annotated[int, typer.Argument(help="Study id.")],
    wait: Annotated[bool, typer.Option(help="Wait for the workers, with a progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Agreement per question and prevalence, computed by the workers for the current labels
    (queued if there is no report of them yet)."""
    from app.studies import results, service

    factory = _sessionmaker()

    def state() -> tuple[str, int, int, bool]:
        with session_scope(factory) as session:
            session.info["actor_label"] = "cli"
            study = service.get_study(session, study_id)
            row = results.request_report(session, study)
            stale = row.fingerprint != results.labels_fingerprint(session, study)
            return row.status, row.done, row.total, stale

    status, done, total, stale = state()
    if wait and (status in ("queued", "running") or stale):
        with Progress(
            TextColumn("[bold]agreement[/bold]"), BarColumn(), MofNCompleteColumn()
        ) as bar:
            task = bar.add_task("questions", total=total or None)
            while status in ("queued", "running") or (stale and status != "failed"):
                time.sleep(0.5)
                status, done, total, stale = state()
                bar.update(task, completed=done, total=total or None)
    with factory() as session:
        study = service.get_study(session, study_id)
        row = results.request_report(session, study)
        report, error = row.report, row.error
    if status == "failed":
        raise UserError(f"the computation failed: {error}")
    if as_json:
        typer.echo(json.dumps({"status": status, "stale": stale, **report}, indent=2))
        return
    if not report:
        typer.echo(f"study {study_id}: computing ({done}/{total} questions); run again later")
        return
    typer.echo(f"study {study_id}: agreement{' (older labels)' if stale else ''}")
    for q in report.get("questions", []):
        cells = []
        for key, _label in results.STATISTICS:
            value = q.get(key)
            cells.append(f"{key} {'undefined' if value is None else f'{value:.3f}'}")
        typer.echo(f"  {q['label']:22} " + ", ".join(cells))
    for row_ in report.get("prevalence", []):
        value = row_["value"]
        shown = "undefined" if value is None else f"{value:.3f}"
        typer.echo(
            f"  prevalence {row_['outcome']:18} {row_['codec']} bpp>={row_['bpp_bucket']} "
            f"{row_['method']}: {shown} ({row_['n_items']} items)"
        )


@runs_app.command("import")
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
    from app.storage import LocalMediaStorage

    settings = get_settings()
    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "cli"
        found = dataset_service.get_dataset_by_name(session, dataset)
        if found is None:
            raise UserError(f"no dataset named {dataset!r}")
        runs = import_manifest(
            session, LocalMediaStorage(settings.media_root), found, manifest, match_jpeg=match_jpeg
        )
        summary = [(run.id, run.params["label"], len(run.image_ids or [])) for run in runs]
    for run_id, label, count in summary:
        typer.echo(f"run {run_id}: {label}, {count} images imported")
    if wait:
        for run_id, _, _ in summary:
            _follow_run(run_id)


@runs_app.command("list")
@user_errors
def runs_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Codec runs, newest first, with their progress."""
    from app.codec_runs import service
    from app.codec_runs.schemas import RunRead

    with session_scope(_sessionmaker()) as session:
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


@runs_app.command("show")
@user_errors
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Every result, machine-readable.")
    ] = False,
) -> None:
    """A run and every result: files, bits, bpp, metrics, the matched JPEG, errors."""
    from app.codec_runs.reports import run_report

    settings = get_settings()
    with session_scope(_sessionmaker()) as session:
        report = run_report(session, run_id, media_root=settings.media_root)
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


@runs_app.command("cancel")
@user_errors
def runs_cancel(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Stop a run: queued work is dropped; work in progress finishes its current step."""
    from app.codec_runs import service

    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "cli"
        service.cancel_run(session, run_id)
    typer.echo(f"run {run_id} cancelled")


@runs_app.command("retry")
@user_errors
def runs_retry(run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Queue a run's failed and invalid results again."""
    from app.codec_runs import service

    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "cli"
        count = service.retry_run(session, run_id)
    typer.echo(f"run {run_id}: {count} results queued again")


@app.command()
@user_errors
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    serve: Annotated[bool, typer.Option(help="Start the web server and a worker.")] = True,
) -> None:
    """Set up the embedded demo (accounts, demo dataset), then run the web server and a worker."""
    from app import demo as demo_setup
    from app.migrate import upgrade

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "demo"
        accounts = demo_setup.ensure_accounts(session, settings)
        demo_setup.ensure_demo_dataset(session)
    declared = demo_setup.ensure_example_external_codecs(settings)
    if declared:
        typer.echo(declared)
    folder = demo_setup.build_demo_folder(settings.var_dir / "demo-source")
    job = import_path(folder, name=demo_setup.DEMO_DATASET)
    typer.echo(
        f"demo dataset {demo_setup.DEMO_DATASET!r}: {job.n_imported} new images, "
        f"{job.n_duplicate} already there, {job.n_failed} failed"
    )
    with session_scope(_sessionmaker()) as session:
        session.info["actor_label"] = "demo"
        dataset = demo_setup.ensure_demo_dataset(session)
        for message in demo_setup.ensure_demo_runs(session, dataset):
            typer.echo(message)
        for study_message in (
            demo_setup.ensure_demo_study(session),
            demo_setup.ensure_demo_simulated_study(session),
        ):
            if study_message:
                typer.echo(study_message)
    typer.echo("\nDemo accounts (username / password):")
    for account in accounts:
        typer.echo(f"  {account.role.value:11} {account.username:12} {account.password}")
    if not serve:
        return
    _run_web_and_worker(host, port)


def _run_web_and_worker(host: str, port: int) -> None:
    python = sys.executable
    env = dict(os.environ)
    processes = [
        subprocess.Popen(
            [python, "-m", "app.cli", "worker", "--concurrency=1", "--loglevel=warning"], env=env
        ),
        subprocess.Popen(
            [python, "-m", "app.cli", "serve", f"--host={host}", f"--port={port}"], env=env
        ),
    ]
    typer.echo(f"\nmiscomp is running at http://{host}:{port}  (Ctrl-C stops it)")
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    failed = [p.returncode for p in processes if p.returncode not in (0, None, -2, 130)]
    if failed:
        raise fail(f"a demo process exited with status {failed[0]}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
