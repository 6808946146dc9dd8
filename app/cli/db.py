"""`miscomp db`: the database schema."""

from __future__ import annotations

import typer

from app.cli.helpers import user_errors
from app.config import get_settings

group = typer.Typer(help="Database schema.", no_args_is_help=True)


@group.command("upgrade")
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
