"""Every table, imported in one place for Alembic and for the audit listener
(tests/test_models.py fails if a mapped class is missing here)."""

from app.audit.models import AuditLog
from app.codec_runs.models import CodecResult, CodecRun, CodecSweep
from app.codec_weights.models import WeightsFetch
from app.datasets.models import Dataset, Image, ImportFile, ImportJob
from app.db import Base
from app.detector.records import DetectorRetraining
from app.exports.models import ExportJob
from app.monitoring.models import WorkerHeartbeat
from app.pair_audits.models import PairAudit
from app.studies.models import (
    Adjudication,
    Annotation,
    AnnotationRevision,
    Assignment,
    QualificationAnswer,
    Study,
    StudyAsset,
    StudyItem,
    StudyMember,
    StudyResult,
    TaxonomyVersion,
)
from app.users.models import (
    ApiToken,
    LoginAttempt,
    User,
    UserGroup,
    UserGroupMember,
    UserSession,
)

__all__ = [
    "Adjudication",
    "Annotation",
    "AnnotationRevision",
    "ApiToken",
    "AuditLog",
    "Base",
    "DetectorRetraining",
    "CodecResult",
    "CodecRun",
    "CodecSweep",
    "Dataset",
    "ExportJob",
    "Image",
    "ImportFile",
    "ImportJob",
    "Assignment",
    "LoginAttempt",
    "PairAudit",
    "QualificationAnswer",
    "Study",
    "StudyAsset",
    "StudyItem",
    "StudyMember",
    "StudyResult",
    "TaxonomyVersion",
    "User",
    "UserGroup",
    "UserGroupMember",
    "UserSession",
    "WeightsFetch",
    "WorkerHeartbeat",
]
