"""Who may do what. The web and API layers enforce these on every route."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    """Manages users, datasets and codec runs."""
    RESEARCHER = "researcher"
    """Runs studies, reads results, exports."""
    ANNOTATOR = "annotator"
    """Labels the items assigned to them and sees nothing else."""


ALL_ROLES: frozenset[Role] = frozenset(Role)
DATASET_READERS: frozenset[Role] = frozenset({Role.ADMIN, Role.RESEARCHER})
DATASET_WRITERS: frozenset[Role] = frozenset({Role.ADMIN})
USER_MANAGERS: frozenset[Role] = frozenset({Role.ADMIN})
AUDIT_READERS: frozenset[Role] = frozenset({Role.ADMIN})
ANNOTATORS: frozenset[Role] = frozenset({Role.ANNOTATOR})
STUDY_MANAGERS: frozenset[Role] = frozenset({Role.ADMIN, Role.RESEARCHER})
TAXONOMY_EDITORS: frozenset[Role] = frozenset({Role.ADMIN})


class TokenScope(StrEnum):
    """What a token may do with its owner's role: everything, or only read (GET, HEAD)."""

    FULL = "full"
    READ = "read"
