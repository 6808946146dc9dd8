"""The Celery tasks, one module per feature; each takes ids and calls its feature's service."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

RETRY_ON_LOST_DATABASE: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 5,
    "max_retries": 3,
}
"""Every task is retried, with backoff, when the database connection is lost (a restart,
a failover): its step is safe to run again."""
