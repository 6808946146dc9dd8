"""The Celery tasks of pair audits (``workers/tasks/pair_audits.py``)."""

from __future__ import annotations

from app.jobs import TaskSpec

AUDIT_PAIR = TaskSpec("workers.tasks.pair_audits.audit_pair", queue="post")
"""Audit one pair with the detector (a ``PairAudit``)."""

TASKS = (AUDIT_PAIR,)
"""Pair-audit tasks (post-processing queue)."""
