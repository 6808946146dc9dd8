from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditLog


def list_entries(
    session: Session, *, entity_type: str | None = None, offset: int = 0, limit: int = 100
) -> tuple[int, list[AuditLog]]:
    query = select(AuditLog)
    count = select(func.count()).select_from(AuditLog)
    if entity_type:
        query = query.where(AuditLog.entity_type == entity_type)
        count = count.where(AuditLog.entity_type == entity_type)
    rows = session.scalars(
        query.order_by(AuditLog.id.desc()).offset(max(0, offset)).limit(max(1, min(limit, 500)))
    )
    return session.scalar(count) or 0, list(rows)
