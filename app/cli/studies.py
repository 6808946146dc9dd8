"""`miscomp studies`: crops proposed by the workers, raters, blinding, results."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app.cli.helpers import (
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
from app.errors import NotFound, UserError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.studies.models import Study

group = typer.Typer(help="Studies: crops, raters, blinding.", no_args_is_help=True)


@group.command("create")
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
        list[str] | None,
        typer.Option(help="Proposal method (see `miscomp studies methods`); repeat."),
    ] = None,
    method_param: Annotated[
        list[str] | None,
        typer.Option(help="A method's parameter, METHOD.KEY=VALUE (guided.per_image=5); repeat."),
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
    qualification_items: Annotated[int, typer.Option(help="Control items answered first.")] = 0,
    qualification_pass: Annotated[float, typer.Option(help="Percent of them right to pass.")] = 80,
    wait: Annotated[bool, typer.Option(help="Wait until the crops are proposed.")] = False,
) -> None:
    """Create a study; the workers propose its crops, then it opens to annotators."""
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
        "qualification_items": qualification_items,
        "qualification_pass": qualification_pass / 100,
    }
    if size:
        options["crop_sizes"] = size
    if method:
        options["methods"] = method
    if method_param:
        options["method_params"] = _method_params(method_param)
    if pane:
        options["panes"] = pane
    if quota:
        options["quotas"] = {k: float(v) / 100 for k, v in parse_params(quota).items()}
    if instructions is not None:
        if not instructions.is_file():
            raise UserError(f"{instructions}: no such file")
        options["instructions"] = instructions.read_text()
    data = StudyCreate.model_validate(options)  # user_errors words a ValidationError
    with database() as db:
        with db.session() as session:
            study = service.create_study(session, data, actor=None)
            study_id = study.id
        typer.echo(f"study {study_id} created; the workers are proposing its crops")
        if not wait:
            return

        def look() -> Tick[str]:
            with db.reading() as session:
                status = service.get_study(session, study_id).status
            return Tick(state=status, finished=status != "proposing")

        columns = (TextColumn("[bold]proposing crops[/bold]"), BarColumn())
        status = follow(columns, look, description="propose").state
    typer.echo(f"study {study_id} {status}")
    if status == "failed":
        raise typer.Exit(1)


@group.command("methods")
@user_errors
def studies_methods() -> None:
    """The proposal methods a study may use, and the quota each fills."""
    from app.studies.methods import registry

    for method in registry.methods():
        typer.echo(f"{method.name:16} {method.quota:7} {method.description}")
        for key, field in method.params_model.model_fields.items():
            typer.echo(f"{'':16} {'':7}   --method-param {method.name}.{key}={field.default}")


def _method_params(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """METHOD.KEY=VALUE pairs by method (values read as ``parse_params`` reads them)."""
    by_method: dict[str, list[str]] = {}
    for pair in pairs:
        method, dot, setting = pair.partition(".")
        if not dot or not method or "=" not in setting:
            raise UserError(f"--method-param {pair!r}: expected METHOD.KEY=VALUE")
        by_method.setdefault(method, []).append(setting)
    return {method: parse_params(settings) for method, settings in by_method.items()}


@group.command("list")
@user_errors
def studies_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Studies with their progress."""
    from app.studies import service
    from app.studies.schemas import StudyRead

    with database() as db, db.reading() as session:
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
            + (" (simulated labels)" if r.label_source == "simulated" else "")
        )


@group.command("show")
@user_errors
def studies_show(
    study_id: Annotated[int, typer.Argument(help="Study id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A study: settings, how its items were proposed, progress per annotator."""
    from app.studies import service
    from app.studies.schemas import StudyRead

    with database() as db, db.reading() as session:
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
    if read.label_source == "simulated":
        typer.echo(f"  labels simulated: {read.simulation}")
    typer.echo(f"  runs {read.run_ids}, crops {read.crop_sizes} px, k={read.raters_per_item}")
    typer.echo(f"  items by method: {read.proposal_report.get('items', {})}")
    late = f", {read.progress.late} late (kept, not counted)" if read.progress.late else ""
    typer.echo(
        f"  {read.progress.ratings_done}/{read.progress.ratings_needed} ratings{late}, "
        f"{read.progress.complete_items}/{read.progress.items} items complete"
    )
    for rater in raters:
        typer.echo(f"  {rater['username']:20} done {rater['done']} skipped {rater['skipped']}")


def _study_by_id_or_name(session: Session, id_or_name: str) -> Study:
    """An argument that is all digits names a study by id; anything else, by name."""
    from app.domain.bounds import INT32_MAX
    from app.studies import service

    if id_or_name.isdigit() and int(id_or_name) <= INT32_MAX:
        return service.get_study(session, int(id_or_name))
    found = service.find_study_by_name(session, id_or_name)
    if found is None:
        raise NotFound(f"study {id_or_name!r} not found")
    return found


@group.command("simulate")
@user_errors
def studies_simulate(
    study: Annotated[str, typer.Argument(help="Study id or name.")],
    raters: Annotated[
        int | None, typer.Option(help="Simulated raters (default: the study's raters per item).")
    ] = None,
    error_rate: Annotated[
        float | None,
        typer.Option(
            help="How often a rater departs from an item's latent answer, 0 to 1 (default 0.15)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the raters' choices.")] = 0,
    wait: Annotated[bool, typer.Option(help="Wait for the workers, with a progress bar.")] = True,
) -> None:
    """Label a study by simulated raters of a known reliability (power analysis): see what
    agreement, and how wide its intervals, a study of this size gives before people label it.
    The study is then never offered to people; one people have begun is refused. Running it
    again with the same settings labels only what is left (docs/architecture.md)."""
    from app.studies import service, simulation

    chosen: dict[str, float] = {} if error_rate is None else {"error_rate": error_rate}
    with database() as db:
        with db.session() as session:
            found = _study_by_id_or_name(session, study)
            settings = simulation.SimulationSettings.model_validate(
                {"raters": raters or found.raters_per_item, "seed": seed, **chosen}
            )
            simulation.start(session, found, settings)
            study_id = found.id
        typer.echo(
            f"study {study_id}: {settings.raters} simulated raters queued "
            f"(error rate {settings.error_rate}, seed {settings.seed})"
        )
        if not wait:
            return

        def look() -> Tick[simulation.SimulationProgress]:
            with db.reading() as session:
                now = simulation.progress(session, service.get_study(session, study_id))
            return Tick(
                state=now, finished=now.finished, completed=now.ratings, total=now.target or None
            )

        columns = (TextColumn("[bold]simulated raters[/bold]"), BarColumn(), MofNCompleteColumn())
        last = follow(columns, look, description="ratings").state
    if last.status != "open":
        raise UserError(f"study {study_id} is {last.status}: nothing was labelled")
    typer.echo(
        f"study {study_id}: {last.ratings} simulated ratings; "
        f"`miscomp studies results {study_id}` shows the agreement they give"
    )


@group.command("equalise")
@user_errors
def studies_equalise(study_id: Annotated[int, typer.Argument(help="Study id.")]) -> None:
    """Pad the panes of a study proposed by an older version to one byte length per item, so
    that a blind rater cannot tell them apart by their size (pixels and URLs stay)."""
    from app.storage import media_storage
    from app.studies import proposals, service

    settings = get_settings()
    with cli_session() as session:
        study = service.get_study(session, study_id)
        with Progress(
            TextColumn("[bold]equalising panes[/bold]"), BarColumn(), MofNCompleteColumn()
        ) as bar:
            task = bar.add_task("items", total=None)

            def show(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            changed = proposals.equalise_pane_lengths(session, media_storage(settings), study, show)
    typer.echo(f"study {study_id}: {changed} pane groups re-encoded to one length")


@group.command("results")
@user_errors
def studies_results(
    study_id: Annotated[int, typer.Argument(help="Study id.")],
    wait: Annotated[bool, typer.Option(help="Wait for the workers, with a progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Agreement per question and prevalence, computed by the workers for the current labels
    (queued if there is no report of them yet)."""
    from app.studies import report_cache, results, service

    with database() as db:

        def look() -> Tick[tuple[str, int, int, bool]]:
            """The report row, requested (and queued) when there is none of these labels."""
            with db.session() as session:
                study = service.get_study(session, study_id)
                row = results.request_report(session, study)
                stale = row.fingerprint != report_cache.labels_fingerprint(session, study)
                state = (row.status, row.done, row.total, stale)
            working = state[0] in ("queued", "running") or (stale and state[0] != "failed")
            return Tick(
                state=state, finished=not working, completed=state[1], total=state[2] or None
            )

        now = look()
        status, done, total, stale = now.state
        if wait and (status in ("queued", "running") or stale):
            columns = (TextColumn("[bold]agreement[/bold]"), BarColumn(), MofNCompleteColumn())
            first = replace(now, completed=None)  # the bar starts from zero
            status, done, total, stale = follow(
                columns, look, first=first, description="questions"
            ).state
        with db.reading() as session:
            study = service.get_study(session, study_id)
            row = results.request_report(session, study)
            report, error = row.report, row.error
    if status == "failed":
        raise UserError(f"the computation failed: {error}")
    if as_json:
        from app.domain.agreement import SINGLE_RATINGS_NOTE

        definitions = [SINGLE_RATINGS_NOTE]
        typer.echo(
            json.dumps(
                {"status": status, "stale": stale, "definitions": definitions, **report}, indent=2
            )
        )
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


@group.command("export")
@user_errors
def studies_export(
    study_id: Annotated[int, typer.Argument(help="Study id.")],
    out: Annotated[Path, typer.Option(help="The file to write (replaced when complete).")],
    format_name: Annotated[
        str,
        typer.Option(
            "--format", help=f"{', '.join(export_formats.study_format_names())} (docs/exports.md)."
        ),
    ] = "jsonl",
    all_revisions: Annotated[
        bool, typer.Option(help="Every revision of every annotation, not only the current.")
    ] = False,
    names: Annotated[
        bool, typer.Option(help="The raters' usernames beside their pseudonyms.")
    ] = False,
    originals: Annotated[
        bool, typer.Option("--originals", help="The full original images (bundle only).")
    ] = False,
) -> None:
    """Export a study's annotations with their study, item, image, codec, adjudication and
    agreement (one record per annotation), or a bundle of every format with the crops, the
    results and a datasheet; streaming, with a progress bar."""
    from app.exports import service as export_service
    from app.exports.records import ExportOptions
    from app.storage import media_storage
    from app.studies import service

    # A wrong format or option fails before any work.
    export_service.check_study_export(format_name, include_originals=originals)
    options = ExportOptions(all_revisions=all_revisions, names=names)
    storage = media_storage(get_settings())
    with database() as db, db.reading() as session:
        study = service.get_study(session, study_id)
        steps = export_service.export_steps(session, study, format_name, options)
        with counting_bar("exporting", steps) as progress:
            written = export_service.write_study_export(
                session,
                storage,
                study,
                out,
                format_name=format_name,
                options=options,
                include_originals=originals,
                progress=progress,
            )
    typer.echo(f"wrote {written} records to {out}")


@group.command("import")
@user_errors
def studies_import(
    bundle: Annotated[Path, typer.Argument(help="A bundle exported with --originals.")],
    name: Annotated[
        str | None, typer.Option(help="The new study's name (default: the bundle's).")
    ] = None,
) -> None:
    """Rebuild a study from its bundle (docs/exports.md, Round trip): datasets, images,
    runs as imported runs, items, crops, raters, leases, every revision and adjudication,
    in one transaction; prints the new study's id."""
    from app.exports.bundle_import import import_bundle
    from app.exports.bundle_reader import opened_bundle
    from app.storage import media_storage

    settings = get_settings()
    storage = media_storage(settings)
    with (
        opened_bundle(settings, bundle) as contents,
        database() as db,
        db.session("import") as session,
        counting_bar("importing", contents.steps) as bar,
    ):
        study = import_bundle(session, storage, settings, contents, name=name, progress=bar)
        study_id = study.id
    typer.echo(f"imported study {study_id}")
