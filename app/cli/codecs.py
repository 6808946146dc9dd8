"""`miscomp codecs`: what can run here, fetching published weights, training and packing
learned codecs (torch is imported only inside the commands that need it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from app.cli.helpers import user_errors
from app.config import get_settings
from app.errors import UserError

group = typer.Typer(help="Codecs available on this machine.", no_args_is_help=True)


@group.command("list")
@user_errors
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


@group.command("fetch")
@user_errors
def codecs_fetch(
    name: Annotated[str, typer.Argument(help="A CompressAI zoo architecture, or hific.")],
    quality: Annotated[
        list[str] | None,
        typer.Option(help="Quality to fetch (repeat for several; default all): 1-8, or lo/mi/hi."),
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="CompressAI: mse (default) or ms-ssim.")
    ] = None,
) -> None:
    """Download published weights into the weights folder (MISCOMP_WEIGHTS_DIR), where the
    codecs look for them: CompressAI's zoo files, or HiFiC's metagraphs for tfci.py.

    Each file is checked against its published sha256 (or the operator's pin) and kept only
    if it agrees; an interrupted download resumes when the command is run again. Mirrors and
    pins: the weights catalogue file (MISCOMP_WEIGHTS_CATALOGUE, docs/codecs.md)."""
    from app.codec_weights.download import fetch_file
    from app.codec_weights.service import operator_catalogue
    from app.domain.codecs.catalogue import CatalogueError, select

    settings = get_settings()
    try:
        chosen = select(name, metric, tuple(quality or ()))
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    operator = operator_catalogue(settings)
    for weights in chosen:
        with Progress(
            TextColumn(f"[bold]{weights.file_name}[/bold]"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("fetch", total=None)

            def show(done: int, total: int | None, bar: Progress = bar, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            fetched = fetch_file(weights, settings.weights_dir, operator, progress=show)
        if fetched.already_present:
            typer.echo(f"{fetched.path} is here already (sha256 {fetched.sha256[:12]}... verified)")
        else:
            resumed = f", resumed at {fetched.resumed_from:,} bytes" if fetched.resumed_from else ""
            typer.echo(
                f"fetched {fetched.path} ({fetched.size:,} bytes{resumed}, "
                f"sha256 {fetched.sha256[:12]}... verified)"
            )


@group.command("train")
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


@group.command("pack")
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
