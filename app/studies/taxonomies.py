"""Editing the taxonomy: a whole new version from a form of every category (keys, names,
definitions, kinds, shortcuts, example crops). Versions are never edited; a study keeps the
version it was made with (``service.new_version``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import keep
from app.domain import taxonomy
from app.domain.images import decode_image
from app.errors import Conflict, InvalidInput, NotFound
from app.storage import MediaStorage, taxonomy_example_key
from app.studies import service
from app.studies.models import Study, TaxonomyVersion
from app.studies.schemas import CategoryRow
from app.users.models import User


@dataclass(frozen=True)
class VersionSummary:
    """A row of the taxonomy page: a version, who made it, and how many studies use it."""

    version: TaxonomyVersion
    created_by: str | None
    studies: int


def list_versions(session: Session) -> list[VersionSummary]:
    """Every version, newest first (the default taxonomy's, and any a bundle brought)."""
    service.default_taxonomy(session)
    uses = dict(
        session.execute(
            select(Study.taxonomy_version_id, func.count()).group_by(Study.taxonomy_version_id)
        ).all()
    )
    rows = session.execute(
        select(TaxonomyVersion, User.username)
        .outerjoin(User, User.id == TaxonomyVersion.created_by_id)
        .order_by(TaxonomyVersion.name, TaxonomyVersion.version.desc())
    ).all()
    return [
        VersionSummary(version, username, uses.get(version.id, 0)) for version, username in rows
    ]


def get_version(session: Session, version_id: int) -> TaxonomyVersion:
    version = session.get(TaxonomyVersion, version_id)
    if version is None:
        raise NotFound(f"taxonomy version {version_id} not found")
    return version


def of_study(session: Session, study: Study) -> TaxonomyVersion:
    """The version ``study`` labels under, which the session keeps (``db.keep``; versions are
    never edited): a workspace request checks the labels with it, then draws the next item's
    form with it."""
    version = session.get(TaxonomyVersion, study.taxonomy_version_id)
    assert version is not None  # a foreign key, never null
    keep(session, version)
    return version


def form_rows(version: TaxonomyVersion) -> list[dict[str, Any]]:
    """The edit form's rows: a version's categories, then one blank row for a new one."""
    return [*version.categories, CategoryRow().model_dump()]


def instructions(version: TaxonomyVersion) -> str:
    """What a new study's instructions start from: the version's definitions (Markdown)."""
    return taxonomy.instructions_for(version.categories, version.verdicts)


def store_example(storage: MediaStorage, data: bytes, *, max_pixels: int) -> str:
    """Keep an uploaded example crop (fully decoded, stored as lossless PNG, content-addressed)
    and return its digest for the form; ImageRejected (a ValueError) says why not."""
    decoded = decode_image(data, max_pixels=max_pixels)
    storage.put(taxonomy_example_key(decoded.pixels_sha256), decoded.png_bytes())
    return decoded.pixels_sha256


def save_version(
    session: Session,
    storage: MediaStorage,
    rows: Sequence[CategoryRow],
    *,
    base_version: int,
    actor: User | None,
) -> TaxonomyVersion:
    """The next version of the default taxonomy with the form's rows (removed and blank rows
    left out). Refused, changing nothing: a version saved since ``base_version`` (Conflict),
    invalid rows or no change at all (InvalidInput, in plain words)."""
    current = service.default_taxonomy(session)
    if current.version != base_version:
        raise Conflict(
            f"the taxonomy changed meanwhile: version {current.version} was saved after "
            f"version {base_version}, which you edited; reload the form to edit the new one"
        )
    entries: list[dict[str, Any]] = []
    positions: list[int] = []
    problems: list[str] = []
    for position, row in enumerate(rows, start=1):
        if row.remove or row.is_blank():
            continue
        entry: dict[str, Any] = row.model_dump(
            include={"key", "label", "kind", "shortcut", "description"}
        )
        if row.example and not row.remove_example:
            if not storage.exists(taxonomy_example_key(row.example)):
                problems.append(f"row {position}: the example image is gone; choose it again")
            entry["example"] = row.example
        entries.append(entry)
        positions.append(position)
    if problems:
        raise InvalidInput("; ".join(problems))
    try:
        categories = taxonomy.validated_categories(
            entries, previous=current.categories, rows=positions
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if categories == current.categories:
        raise InvalidInput(
            f"nothing changed: these are the categories of version {current.version}"
        )
    return service.new_version(session, current, categories, actor=actor)
