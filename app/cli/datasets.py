"""`miscomp datasets`: datasets and image imports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.cli.helpers import CLI_ACTOR, Database, cli_session, database, user_errors
from app.config import get_settings
from app.datasets.models import ImportJob

group = typer.Typer(help="Datasets and image imports.", no_args_is_help=True)


@group.command("list")
@user_errors
def datasets_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List datasets with their image counts."""
    from app.datasets import service

    with cli_session() as session:
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


@group.command("import")
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
    with database() as db:
        job = import_path(
            db, path, name=name, license=license, description=description, source=source
        )
        if report:
            _print_report(db, job.id)
    typer.echo(
        f"import {job.id}: {job.n_imported} imported, {job.n_duplicate} duplicates, "
        f"{job.n_failed} failed, {job.n_skipped} skipped"
    )


def import_path(
    db: Database,
    path: Path,
    *,
    name: str,
    license: str = "",
    description: str = "",
    source: str = "",
) -> ImportJob:
    """Import ``path`` into the dataset ``name`` (created when missing), with a progress bar."""
    from app.datasets import importer
    from app.datasets import service as dataset_service
    from app.datasets.schemas import DatasetCreate
    from app.storage import media_storage

    settings = get_settings()
    with db.session() as session:
        dataset = dataset_service.find_dataset_by_name(session, name)
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
            db.factory,
            media_storage(settings),
            settings,
            job_id,
            actor_label=CLI_ACTOR,
            progress=show,
        )


def _print_report(db: Database, import_id: int) -> None:
    from app.datasets import service

    with db.session() as session:
        for f in service.import_files(session, import_id):
            line = f"{f.outcome:9} {f.name}"
            typer.echo(f"{line}: {f.message}" if f.message else line)
