"""The taxonomy is data: the paper's categories by default, and admins add categories (the
paper's TEXTURE) as a new version without a code change."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.domain.roles import Role
from tests.conftest import login
from tests.factories import make_user


def test_admins_add_a_category_as_a_new_version(client: TestClient, db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    db.commit()
    csrf = {"X-CSRF-Token": login(client, admin)}
    first = client.get("/api/taxonomy").json()
    assert first["version"] == 1
    assert [c["label"] for c in first["categories"]] == ["AMPLITUDE", "GEOMETRY", "SHAPE", "SYMBOL"]
    assert [v["key"] for v in first["verdicts"]] == [
        "miscompression",
        "no_miscompression",
        "unsure",
    ]
    texture = {
        "key": "texture",
        "label": "TEXTURE",
        "description": "Texture replaced by a plausible but different one.",
        "shortcut": "4",
    }
    added = client.post("/api/taxonomy/categories", headers=csrf, json=texture)
    assert added.status_code == 201, added.text
    assert added.json()["version"] == 2
    assert added.json()["categories"][-1]["label"] == "TEXTURE"
    assert client.get("/api/taxonomy").json()["version"] == 2
    clash = client.post("/api/taxonomy/categories", headers=csrf, json={**texture, "key": "tex2"})
    assert clash.status_code == 422 and "shortcut '4' is taken" in clash.text
    reserved = client.post(
        "/api/taxonomy/categories", headers=csrf, json={**texture, "key": "t3", "shortcut": "m"}
    )
    assert reserved.status_code == 422
    duplicate = client.post(
        "/api/taxonomy/categories", headers=csrf, json={**texture, "shortcut": "5"}
    )
    assert duplicate.status_code == 422 and "exists already" in duplicate.text
    assert client.get("/api/taxonomy").json()["version"] == 2  # refused changes made nothing
