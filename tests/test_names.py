"""Every name a user gives refuses NUL, other control characters and bidi overrides: 422
naming the field, nothing stored; the CLI says the same in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.datasets.models import Dataset
from app.domain.roles import Role
from app.studies.models import Study, TaxonomyVersion
from app.users.models import ApiToken, User
from tests.conftest import login
from tests.factories import make_user
from tests.test_cli import miscomp

HOSTILE = ["nul\x00name", "new\nline", "evil\u202egnp.exe", "iso\u2066late\u2069", "rlm\u200f"]


def _rows(db: Session, model: type[object]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def _names_the_field(response: object, field: str) -> None:
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert any(e["loc"][-1] == field and "control" in e["msg"] for e in detail), detail


@pytest.mark.parametrize("name", HOSTILE)
def test_the_api_refuses_hostile_names_and_stores_nothing(
    client: TestClient, db: Session, name: str
) -> None:
    admin = make_user(db, Role.ADMIN)
    csrf = {"X-CSRF-Token": login(client, admin)}
    before = {m: _rows(db, m) for m in (Dataset, Study, ApiToken, TaxonomyVersion, User)}

    dataset = client.post("/api/datasets", json={"name": name}, headers=csrf)
    assert dataset.status_code == 422
    _names_the_field(dataset, "name")
    study = client.post("/api/studies", json={"name": name, "run_ids": [1]}, headers=csrf)
    assert study.status_code == 422
    _names_the_field(study, "name")
    token = client.post("/api/tokens", json={"name": name}, headers=csrf)
    assert token.status_code == 422
    _names_the_field(token, "name")
    category = {"key": "texture", "label": name, "description": "d", "shortcut": "x"}
    added = client.post("/api/taxonomy/categories", json=category, headers=csrf)
    assert added.status_code == 422
    _names_the_field(added, "label")
    user = {"username": name, "role": "annotator", "password": "long enough password"}
    created = client.post("/api/users", json=user, headers=csrf)
    assert created.status_code == 422

    assert {m: _rows(db, m) for m in before} == before


def test_the_forms_refuse_hostile_names_naming_the_field(client: TestClient, db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    csrf = login(client, admin)
    name = "evil\u202egnp.exe"
    dataset = client.post("/datasets", data={"name": name, "csrf_token": csrf})
    assert dataset.status_code == 422
    assert "name" in dataset.text and "U+202E" in dataset.text
    token = client.post("/account/tokens", data={"name": "a\x00b", "csrf_token": csrf})
    assert token.status_code == 422
    assert "name" in token.text and "U+0000" in token.text
    assert _rows(db, Dataset) == 0
    assert _rows(db, ApiToken) == 0


def test_the_cli_refuses_a_hostile_dataset_name_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    var = tmp_path / "var"
    assert miscomp(var, "db", "upgrade").returncode == 0
    refused = miscomp(var, "datasets", "import", str(folder), "--name", "evil\u202egnp")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: name: ") and "U+202E" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert miscomp(var, "datasets", "list").stdout.strip() == "no datasets"
