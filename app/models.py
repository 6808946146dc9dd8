"""Every table, imported in one place for Alembic and for the audit listener."""

from app.audit.models import AuditLog
from app.datasets.models import Dataset, Image, ImportFile, ImportJob
from app.db import Base
from app.users.models import ApiToken, LoginAttempt, User

__all__ = [
    "ApiToken",
    "AuditLog",
    "Base",
    "Dataset",
    "Image",
    "ImportFile",
    "ImportJob",
    "LoginAttempt",
    "User",
]
