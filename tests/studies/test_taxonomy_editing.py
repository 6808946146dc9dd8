"""Admins edit the taxonomy in a form (categories, definitions, shortcuts, example crops);
saving makes a new version, never changes one, and new studies start from its definitions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import taxonomy
from app.domain.roles import Role
from app.errors import Conflict, InvalidInput
from app.storage import LocalMediaStorage
from app.studies import service, taxonomies
from app.studies.models import Study, TaxonomyVersion
from app.studies.schemas import CategoryRow
from tests.conftest import login
from tests.factories import image_bytes, make_user
from tests.studies.helpers import finished_run
from tests.studies.test_study_pages import _form as study_form

TEXTURE = {
    "key": "texture",
    "label": "TEXTURE",
    "kind": "category",
    "shortcut": "4",
    "description": "Texture replaced by a plausible but different one.",
}


def _storage() -> LocalMediaStorage:
    return LocalMediaStorage(get_settings().media_root)


def _versions(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(TaxonomyVersion)) or 0


def _form(
    categories: list[dict[str, Any]], base_version: int, csrf: str, **extra: str
) -> dict[str, str]:
    """The edit form as a browser sends it: one numbered group of fields per row."""
    data = {"csrf_token": csrf, "base_version": str(base_version), **extra}
    for i, category in enumerate(categories):
        for field in ("key", "label", "kind", "shortcut", "description"):
            data[f"{field}-{i}"] = category.get(field, "")
        data[f"example-{i}"] = category.get("example") or ""
    return data


def test_saving_makes_the_next_version_and_leaves_the_old_one_as_it_was(db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    first = service.default_taxonomy(db)
    before = list(first.categories)
    rows = [CategoryRow.model_validate(c) for c in [*first.categories, TEXTURE]]
    saved = taxonomies.save_version(db, _storage(), rows, base_version=1, actor=admin)
    assert (saved.version, saved.created_by_id) == (2, admin.id)
    assert [c["key"] for c in saved.categories][-1] == "texture"
    assert saved.verdicts == first.verdicts
    db.expire_all()
    assert service.default_taxonomy(db).id == saved.id
    assert db.get(TaxonomyVersion, first.id).categories == before  # type: ignore[union-attr]

    with pytest.raises(Conflict, match="version 2 was saved after version 1"):
        taxonomies.save_version(db, _storage(), rows, base_version=1, actor=admin)
    with pytest.raises(
        InvalidInput, match="nothing changed: these are the categories of version 2"
    ):
        taxonomies.save_version(db, _storage(), rows, base_version=2, actor=admin)
    removed = [*rows[:3], rows[3].model_copy(update={"remove": True}), rows[4]]
    third = taxonomies.save_version(db, _storage(), removed, base_version=2, actor=admin)
    assert [c["key"] for c in third.categories] == ["amplitude", "geometry", "shape", "texture"]
    assert _versions(db) == 3


def test_the_edit_form_saves_a_category_with_an_example_crop(
    client: TestClient, db: Session
) -> None:
    admin = make_user(db, Role.ADMIN)
    csrf = login(client, admin)
    form = client.get("/admin/taxonomy/edit")
    assert form.status_code == 200
    assert taxonomy.DEFAULT_CATEGORIES[0]["description"] in form.text
    assert 'name="key-4" value=""' in form.text  # the empty row for a new category
    assert 'name="base_version" value="1"' in form.text

    categories = [*taxonomy.DEFAULT_CATEGORIES, TEXTURE]
    crop = image_bytes(size=(40, 30))
    saved = client.post(
        "/admin/taxonomy",
        data=_form(categories, 1, csrf),
        files={"example_file-4": ("texture.png", crop, "image/png")},
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/admin/taxonomy"
    latest = service.default_taxonomy(db)
    assert latest.version == 2
    digest = latest.categories[-1]["example"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    listing = client.get("/admin/taxonomy").text
    assert "v2" in listing and "TEXTURE" in listing
    example = client.get(f"/media/taxonomy/{digest}.png")
    assert example.status_code == 200 and example.headers["content-type"] == "image/png"
    assert example.content.startswith(b"\x89PNG")
    assert client.get(f"/media/taxonomy/{'0' * 64}.png").status_code == 404


def test_a_refused_form_keeps_what_was_typed_and_the_uploaded_example(
    client: TestClient, db: Session
) -> None:
    admin = make_user(db, Role.ADMIN)
    csrf = login(client, admin)
    clash = [*taxonomy.DEFAULT_CATEGORIES, {**TEXTURE, "shortcut": "1"}]
    refused = client.post(
        "/admin/taxonomy",
        data=_form(clash, 1, csrf),
        files={"example_file-4": ("texture.png", image_bytes(), "image/png")},
    )
    assert refused.status_code == 422
    assert "row 5 (TEXTURE): shortcut &#39;1&#39; is taken by AMPLITUDE" in refused.text
    assert 'name="key-4" value="texture"' in refused.text
    assert TEXTURE["description"] in refused.text
    kept = re.search(r'name="example-4" value="([0-9a-f]{64})"', refused.text)
    assert kept is not None, "the uploaded example was not kept"
    assert _versions(db) == 1

    not_an_image = client.post(
        "/admin/taxonomy",
        data=_form([*taxonomy.DEFAULT_CATEGORIES, TEXTURE], 1, csrf),
        files={"example_file-4": ("notes.png", b"not an image", "image/png")},
    )
    assert not_an_image.status_code == 422
    assert "row 5: example image notes.png: not an image Pillow can read" in not_an_image.text

    fixed = client.post(
        "/admin/taxonomy",
        data=_form([*taxonomy.DEFAULT_CATEGORIES, {**TEXTURE, "example": kept.group(1)}], 1, csrf),
    )
    assert fixed.status_code == 303, fixed.text
    assert service.default_taxonomy(db).categories[-1]["example"] == kept.group(1)


def test_a_study_form_starts_from_the_chosen_versions_definitions(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        admin = make_user(session, Role.ADMIN)
        first = service.default_taxonomy(session)
        rows = [CategoryRow.model_validate(c) for c in [*first.categories, TEXTURE]]
        second = taxonomies.save_version(session, _storage(), rows, base_version=1, actor=admin)
        session.commit()
    csrf = login(committed_client, researcher)
    page = committed_client.get("/studies/new").text
    assert re.search(rf'<option value="{second.id}" selected>miscompression v2', page)
    assert f"- **TEXTURE** (`4`): {TEXTURE['description']}" in page

    older = committed_client.get(
        f"/studies/new/instructions?taxonomy_version_id={first.id}", headers={"HX-Request": "true"}
    )
    assert older.status_code == 200
    assert older.text.lstrip().startswith('<div id="instructions">')
    assert "**AMPLITUDE**" in older.text and "TEXTURE" not in older.text
    missing = committed_client.get("/studies/new/instructions?taxonomy_version_id=999999")
    assert missing.status_code == 404

    created = committed_client.post(
        "/studies",
        data={**study_form(run_id), "taxonomy_version_id": str(first.id), "csrf_token": csrf},
    )
    assert created.status_code == 303, created.text
    with Session(committed_db) as session:
        study = session.scalars(select(Study)).one()
        assert study.taxonomy_version_id == first.id
