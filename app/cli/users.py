"""`miscomp users`: accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app.cli.helpers import cli_session, user_errors
from app.domain.roles import Role

group = typer.Typer(help="User accounts.", no_args_is_help=True)


@group.command("create")
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
    with cli_session() as session:
        user = service.create_user(session, data)
        typer.echo(f"created {user.role.value} {user.username!r} (id {user.id})")


@group.command("list")
@user_errors
def users_list() -> None:
    """List users."""
    from app.users import service

    with cli_session() as session:
        for user in service.list_users(session):
            state = "" if user.is_active else " (inactive)"
            typer.echo(f"{user.id}\t{user.username}\t{user.role.value}{state}")
