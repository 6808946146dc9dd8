"""Database plumbing: declarative base, engines, sessions.

One session per web request, committed once by :func:`get_session`; services only flush.
Workers and the CLI use :func:`session_scope`, which follows the same rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


LOST_DATABASE = (OperationalError, InterfaceError)
"""What SQLAlchemy raises when the database cannot be reached or drops a connection (a restart,
a crash, a failover; on SQLite, a lock held too long): the same request may succeed when it
is tried again. The web answers it with 503 and Retry-After (``app.main``)."""

RETRY_AFTER_S = 5
"""How long a client is asked to wait before trying again after a 503 (``LOST_DATABASE``)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on PostgreSQL and SQLite alike (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, *, lock_on_begin: bool = False) -> Engine:
    """The engine for ``url``. ``lock_on_begin`` (the web process): on SQLite, every
    transaction takes the write lock when it begins (``_begin_immediate``); the workers'
    transactions, which read for minutes before one short write, keep SQLite's default."""
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if lock_on_begin:
            event.listen(engine, "begin", _begin_immediate)
        return engine
    # pool_pre_ping: a pooled connection the server dropped (a restart) is replaced when it is
    # checked out, so the first request after the database is back does not fail on it.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver begins no transaction of its own: SQLAlchemy's "begin" event does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    """A web request's transaction on the embedded database takes the write lock when it
    begins. One that read first and wrote later (a login, a submit) would otherwise fail at
    once with "database is locked" whenever another process (the worker) committed in
    between: SQLite cannot move a reader's snapshot forward, so it does not wait for the busy
    timeout then. Taken at the start, the lock is waited for (busy_timeout) instead. Web
    transactions are short; a worker's are not (a study's proposal reads and renders for
    minutes before its one write), so workers do not take it early."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


KEPT_AT_MOST = 64
"""``keep`` holds the latest this many objects: a request needs a few, and a worker's session
that leases thousands of items (``simulation.simulate``) must not hold them all."""


def keep(session: Session, *objects: object) -> None:
    """Holds ``objects`` in the session (the latest ``KEPT_AT_MOST``). The identity map holds
    loaded objects only while something else does, so an object loaded by one step of a
    request and needed by the next would otherwise be read again."""
    kept = session.info.setdefault("kept", deque(maxlen=KEPT_AT_MOST))
    kept.extend(objects)


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.sessionmaker) as session:
        yield session


# scope="function": the commit runs before the response is sent, so a client never sees a
# fragment whose data is not yet committed (FastAPI's "Early exit and scope").
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
