"""`miscomp users`: accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app.cli.helpers import cli_session, user_errors
from app.domain.roles import Role, TokenScope

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


@group.command("token")
@user_errors
def users_token(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    scope: Annotated[
        TokenScope, typer.Option(help="full (what the role allows) or read (GET only).")
    ] = TokenScope.FULL,
    label: Annotated[str, typer.Option(help="What the token is for, shown in its list.")] = "cli",
) -> None:
    """Make an API token for scripts: prints the secret once (only its hash is kept). Use it
    as ``Authorization: Bearer <token>``; revoke it on the user's API tokens page."""
    from app.errors import NotFound
    from app.users import service
    from app.users.schemas import TokenCreate

    data = TokenCreate(name=label, scope=scope)
    with cli_session() as session:
        user = service.find_user_by_username(session, name)
        if user is None:
            raise NotFound(f"user {name!r} not found")
        if not user.is_active:
            raise NotFound(f"user {name!r} is deactivated")
        _, secret = service.create_token(session, user, data.name, data.scope)
    typer.echo(secret)
