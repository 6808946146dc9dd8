"""What every command shares: user mistakes as one line, one database per command, following
work the Celery workers do with a progress bar."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from app import install_session_listeners
from app.audit.listener import set_actor
from app.config import get_settings
from app.db import make_engine, make_sessionmaker, session_scope
from app.domain.validation import validation_message
from app.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S")

#: The audit actor of what the CLI writes (``demo`` writes as "demo").
CLI_ACTOR = "cli"


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
            raise fail(validation_message(exc.errors())) from None
        except (OperationalError, ProgrammingError) as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            if "no such table" in detail or "does not exist" in detail:
                raise fail(
                    f"the database is not migrated ({detail}); run `miscomp db upgrade`"
                ) from None
            raise fail(f"database error: {detail}") from None

    wrapper.user_errors = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class Database:
    """The database of one command: one engine, any number of short sessions."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    @contextmanager
    def session(self, actor: str = CLI_ACTOR) -> Iterator[Session]:
        """A session whose writes are audited as ``actor``, committed at the end."""
        with session_scope(self.factory) as session:
            set_actor(session, actor_id=None, label=actor)
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that is never committed: what it changes (a report requested again,
        say) is rolled back when it closes."""
        with self.factory() as session:
            set_actor(session, actor_id=None, label=CLI_ACTOR)
            yield session


@contextmanager
def database() -> Iterator[Database]:
    """Build the engine once for the command and dispose of it (its pooled connections) at
    the end, so that a command holds no connection open after it returns."""
    install_session_listeners()
    engine = make_engine(get_settings().database_url)
    try:
        yield Database(make_sessionmaker(engine))
    finally:
        engine.dispose()


@contextmanager
def cli_session(actor: str = CLI_ACTOR) -> Iterator[Session]:
    """The usual case, a command with one session: engine, actor, commit, dispose."""
    with database() as db, db.session(actor) as session:
        yield session


@dataclass(frozen=True)
class Tick(Generic[S]):
    """One look at work in progress: ``state`` for the caller, the rest for the bar.
    ``None`` leaves the bar's figure as it was."""

    state: S
    finished: bool
    completed: int | None = None
    total: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def follow(
    columns: tuple[str | ProgressColumn, ...],
    poll: Callable[[], Tick[S]],
    *,
    first: Tick[S] | None = None,
    description: str = "",
    interval_s: float = 0.5,
) -> Tick[S]:
    """Show a progress bar while the workers do something: look (``first``, or ``poll()``),
    then every ``interval_s`` look again until a look says it is finished. Returns the last."""
    with Progress(*columns) as bar:
        tick = poll() if first is None else first
        task = bar.add_task(
            description, total=tick.total, completed=tick.completed or 0, **tick.fields
        )
        while not tick.finished:
            time.sleep(interval_s)
            tick = poll()
            bar.update(task, total=tick.total, completed=tick.completed, **tick.fields)
    return tick


@contextmanager
def counting_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A bar for work this process does itself (an export), gone when it ends: the callback
    it gives takes how many of ``total`` are done."""
    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)


def parse_params(pairs: list[str]) -> dict[str, Any]:
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
