"""`miscomp backup`: the database and the media folder, saved and restored (app/backups.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.helpers import fail, user_errors
from app.config import get_settings

group = typer.Typer(
    help="Backups: pg_dump of the database plus the media folder.", no_args_is_help=True
)


@group.command("create")
@user_errors
def backup_create(
    folder: Annotated[Path, typer.Argument(help="A new or empty folder to write the backup to.")],
    media: Annotated[
        bool,
        typer.Option(help="Include the media folder (leave out where media is in object storage)."),
    ] = True,
) -> None:
    """Back up the database (pg_dump, custom format) and the media folder, with a manifest of
    checksums."""
    from app import backups

    settings = get_settings()
    if media and settings.media_url:
        # The media folder holds no images then: a backup of it would look whole and not be.
        raise fail(
            f"media is in {settings.media_url}, not in the media folder: back the bucket up "
            "with its own tools (docs/deployment.md) and run this with --no-media"
        )
    summary = backups.create(settings.database_url, settings.media_root, folder, media=media)
    typer.echo(
        f"backup written to {summary.folder}: database {summary.database_bytes:,} bytes, "
        f"{summary.media_files:,} media files"
    )


@group.command("restore")
@user_errors
def backup_restore(
    folder: Annotated[Path, typer.Argument(help="A folder written by `miscomp backup create`.")],
    force: Annotated[
        bool, typer.Option(help="Replace what a non-empty database and media folder hold.")
    ] = False,
) -> None:
    """Restore a backup into an empty database and an empty media folder (checksums are
    verified first)."""
    from app import backups

    settings = get_settings()
    summary = backups.restore(settings.database_url, settings.media_root, folder, force=force)
    typer.echo(f"restored {summary.folder}: {summary.media_files:,} media files")
