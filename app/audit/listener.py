"""Write an audit row for every create, update and delete of an audited model.

Hooked on the Session class, so the web, the CLI and the workers are all covered without each
service remembering to log. The actor comes from ``session.info`` (see :func:`set_actor`).

The rule: every mapped model says either ``__audited__ = True`` or why it is not, in
``__audit_exempt__ = "reason"`` (bookkeeping such as leases, per-image results and caches);
``tests/test_models.py`` fails on a model that says neither. Core statements (bulk inserts,
conditional UPDATEs) pass no ORM flush and are never audited: on an audited model they write
bookkeeping alone (a token's last use, an export's progress).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from app.audit.models import AuditLog
from app.db import utcnow

REDACTED_FIELDS = frozenset({"password_hash", "token_hash"})
_installed = False


def set_actor(session: Session, *, actor_id: int | None, label: str) -> None:
    session.info["actor_id"] = actor_id
    session.info["actor_label"] = label


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def _snapshot(obj: Any, *, before: bool) -> dict[str, Any]:
    state = inspect(obj)
    values: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in REDACTED_FIELDS:
            values[key] = "[redacted]"
            continue
        history = state.attrs[key].history
        if before and history.deleted:
            values[key] = _jsonable(history.deleted[0])
        elif before and history.added and not history.deleted:
            values[key] = None
        else:
            values[key] = _jsonable(state.dict.get(key))
    return values


def _changed_fields(obj: Any) -> set[str]:
    state = inspect(obj)
    return {
        attr.key
        for attr in state.mapper.column_attrs
        if state.attrs[attr.key].history.has_changes()
    }


def _after_flush(session: Session, _flush_context: UOWTransaction) -> None:
    rows: list[dict[str, Any]] = []
    actor_id = session.info.get("actor_id")
    label = session.info.get("actor_label", "system")
    now = utcnow()

    def row(obj: Any, action: str, before: Any, after: Any) -> dict[str, Any]:
        # The identity key is not set yet for new objects in after_flush; the primary key is.
        key = inspect(obj).mapper.primary_key_from_instance(obj)
        return {
            "created_at": now,
            "actor_id": actor_id,
            "actor_label": label,
            "action": action,
            "entity_type": obj.__tablename__,
            "entity_id": ":".join(str(k) for k in key) if None not in key else None,
            "before": before,
            "after": after,
        }

    for obj in session.new:
        if getattr(obj, "__audited__", False):
            rows.append(row(obj, "create", None, _snapshot(obj, before=False)))
    for obj in session.dirty:
        if not getattr(obj, "__audited__", False) or not session.is_modified(obj):
            continue
        changed = _changed_fields(obj) - getattr(obj, "__audit_ignore__", frozenset())
        if not changed:
            continue
        before = _snapshot(obj, before=True)
        after = _snapshot(obj, before=False)
        rows.append(
            row(
                obj,
                "update",
                {k: before[k] for k in sorted(changed)},
                {k: after[k] for k in sorted(changed)},
            )
        )
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            rows.append(row(obj, "delete", _snapshot(obj, before=False), None))
    if rows:
        session.connection().execute(insert(AuditLog), rows)


def install() -> None:
    global _installed
    if not _installed:
        event.listen(Session, "after_flush", _after_flush)
        _installed = True
