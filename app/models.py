"""Every table, imported in one place for Alembic and for the audit listener."""

from app.audit.models import AuditLog
from app.codec_runs.models import CodecResult, CodecRun
from app.datasets.models import Dataset, Image, ImportFile, ImportJob
from app.db import Base
from app.studies.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Study,
    StudyAsset,
    StudyItem,
    TaxonomyVersion,
)
from app.users.models import ApiToken, LoginAttempt, User, UserSession

__all__ = [
    "Annotation",
    "AnnotationRevision",
    "ApiToken",
    "AuditLog",
    "Base",
    "CodecResult",
    "CodecRun",
    "Dataset",
    "Image",
    "ImportFile",
    "ImportJob",
    "LoginAttempt",
    "Assignment",
    "Study",
    "StudyAsset",
    "StudyItem",
    "TaxonomyVersion",
    "User",
    "UserSession",
]
