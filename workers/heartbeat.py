"""Each worker writes its last-seen time to the database (``worker_heartbeat``) when it starts
and every ``MISCOMP_WORKER_HEARTBEAT_S`` after, from Celery's own timer, for ``/metrics``.

The database rather than Celery's heartbeat events: events need a broker with fan-out, which
the embedded filesystem broker lacks, and a web process would have to listen to them. The
timer runs on the worker's event loop (Redis) or timer thread (filesystem broker), so a worker
whose loop hangs stops beating too.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import bootsteps
from sqlalchemy.exc import SQLAlchemyError

from app.config import get_settings
from app.db import session_scope, utcnow
from app.monitoring import service
from workers.db import worker_sessionmaker

log = logging.getLogger(__name__)


class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_entry: Any = None
        self.started_at = utcnow()

    def start(self, worker: Any) -> None:
        self.started_at = utcnow()
        self.beat(worker)
        self.timer_entry = worker.timer.call_repeatedly(
            get_settings().worker_heartbeat_s, self.beat, (worker,), priority=10
        )

    def stop(self, worker: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def beat(self, worker: Any) -> None:
        queues = sorted(worker.app.amqp.queues.consume_from)
        try:
            with session_scope(worker_sessionmaker()) as session:
                service.record_heartbeat(
                    session,
                    hostname=worker.hostname,
                    queues=queues,
                    pid=os.getpid(),
                    started_at=self.started_at,
                    now=utcnow(),
                )
        except SQLAlchemyError as exc:
            # A database that is away for a moment must not stop the worker; the next beat
            # retries, and the missing beats show in /metrics as an older last-seen time.
            log.warning("worker heartbeat not recorded: %s", exc)
