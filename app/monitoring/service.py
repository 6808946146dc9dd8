"""What ``/metrics`` counts in the database, and the workers' heartbeats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.codec_runs.models import CodecResult, CodecRun
from app.monitoring.models import WorkerHeartbeat
from app.studies.models import Study

HEARTBEATS_LISTED_FOR = timedelta(days=1)
"""A worker silent for longer drops out of ``/metrics``: workers of replaced containers (each
with a new host name) would otherwise stay listed for ever."""


def counts_by_status(session: Session) -> dict[str, dict[str, int]]:
    """Rows per status of codec runs, codec results and studies: one grouped COUNT each."""
    columns: dict[str, InstrumentedAttribute[str]] = {
        "codec_runs": CodecRun.status,
        "codec_results": CodecResult.status,
        "studies": Study.status,
    }
    return {
        name: dict(session.execute(select(column, func.count()).group_by(column)).all())
        for name, column in columns.items()
    }


def record_heartbeat(
    session: Session,
    *,
    hostname: str,
    queues: Sequence[str],
    pid: int,
    started_at: datetime,
    now: datetime,
) -> None:
    """Insert or refresh the worker's row in one statement (PostgreSQL and SQLite alike)."""
    values = {
        "hostname": hostname,
        "queues": ",".join(sorted(queues)),
        "pid": pid,
        "started_at": started_at,
        "last_seen_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(WorkerHeartbeat).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WorkerHeartbeat.hostname],
            set_={key: statement.excluded[key] for key in values if key != "hostname"},
        )
    )


def recent_heartbeats(session: Session, now: datetime) -> list[WorkerHeartbeat]:
    return list(
        session.scalars(
            select(WorkerHeartbeat)
            .where(WorkerHeartbeat.last_seen_at >= now - HEARTBEATS_LISTED_FOR)
            .order_by(WorkerHeartbeat.hostname)
        )
    )
