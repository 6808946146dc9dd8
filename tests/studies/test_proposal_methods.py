"""Proposal methods come from a registry: a method registered from one module of its own is
offered, validated and used like the built-in ones; a name nobody registered is refused."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.config import get_settings
from app.datasets.models import Image
from app.db import make_sessionmaker
from app.domain import crops
from app.domain.roles import Role
from app.storage import LocalMediaStorage
from app.studies import proposals
from app.studies.methods import registry
from app.studies.models import Study, StudyItem
from tests.conftest import login
from tests.factories import make_user
from tests.studies.centre_method import CentreCrops
from tests.studies.helpers import finished_run

UNKNOWN = "unknown proposal method 'bogus'; known: text, guided, detector, random"


@pytest.fixture
def centre_method() -> Iterator[CentreCrops]:
    method = CentreCrops()
    registry.register(method)
    try:
        yield method
    finally:
        registry.unregister(method.name)


def test_a_registered_method_is_offered_and_proposes_the_items_of_its_quota(
    centre_method: CentreCrops, committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    csrf = login(committed_client, researcher)
    form = committed_client.get("/studies/new").text
    assert 'value="centre"' in form and centre_method.description in form
    listed = CliRunner().invoke(cli.app, ["studies", "methods"])
    assert listed.exit_code == 0 and centre_method.description in listed.output
    created = committed_client.post(
        "/api/studies",
        headers={"X-CSRF-Token": csrf},
        json={"name": "centres", "run_ids": [run_id], "crop_sizes": [64], "items": 4,
              "methods": ["centre", "random"], "quotas": {"guided": 0.5, "random": 0.5},
              "raters_per_item": 1},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]
    storage = LocalMediaStorage(get_settings().media_root)
    assert proposals.propose(make_sessionmaker(committed_db), storage, get_settings(), study_id)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None and study.status == "open"
        items = list(session.scalars(select(StudyItem).where(StudyItem.study_id == study_id)))
        images = {i.id: i for i in session.scalars(select(Image))}
    assert sorted(i.method for i in items) == ["centre", "centre", "random", "random"]
    for item in items:
        if item.method != "centre":
            continue
        image = images[item.image_id]
        centre = crops.Box.centred(image.width / 2, image.height / 2, 64, image.width, image.height)
        assert (item.x, item.y, item.size) == (centre.x, centre.y, centre.size)
        assert item.score == 0.5  # the method's parameter, at its default
        assert item.inclusion_probability is None  # not a sample
    report = study.proposal_report
    assert report["candidates"] == {"text": 0, "guided": 0, "centre": 2}
    assert report["items"] == {
        "text": 0, "guided": 0, "centre": 2, "detector": 0, "random": 2, "control": 0
    }  # fmt: skip
    assert report["shortfall"] == {"guided": 0}


def test_a_study_sets_a_methods_parameters_and_proposing_uses_them(
    centre_method: CentreCrops, committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    csrf = login(committed_client, researcher)
    study = {"name": "scored centres", "run_ids": [run_id], "crop_sizes": [64], "items": 2,
             "methods": ["centre"], "quotas": {"guided": 1.0}, "raters_per_item": 1}  # fmt: skip
    refusals = {
        "centre.score: must be more than 0": {"centre": {"score": -1}},
        "centre.colour: is not one of the accepted fields": {"centre": {"colour": "red"}},
        "parameters for 'random', which is not one of the study's methods": {"random": {"x": 1}},
    }
    for message, params in refusals.items():
        refused = committed_client.post(
            "/api/studies", headers={"X-CSRF-Token": csrf}, json={**study, "method_params": params}
        )
        assert refused.status_code == 422 and message in refused.text, refused.text
    created = committed_client.post(
        "/api/studies",
        headers={"X-CSRF-Token": csrf},
        json={**study, "method_params": {"centre": {"score": 0.75}}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["method_params"] == {"centre": {"score": 0.75}}
    storage = LocalMediaStorage(get_settings().media_root)
    proposals.propose(
        make_sessionmaker(committed_db), storage, get_settings(), created.json()["id"]
    )
    with Session(committed_db) as session:
        scores = session.scalars(
            select(StudyItem.score).where(StudyItem.study_id == created.json()["id"])
        )
        assert set(scores) == {0.75}
    page = committed_client.get(f"/studies/{created.json()['id']}")
    assert "centre (score 0.75)" in page.text
    cli_refused = CliRunner().invoke(
        cli.app,
        ["studies", "create", "--name", "x", "--run", str(run_id), "--method", "centre",
         "--quota", "guided=100", "--method-param", "centre-score=1"],
    )  # fmt: skip
    assert cli_refused.exit_code == 1
    assert "expected METHOD.KEY=VALUE" in cli_refused.output
    cli_made = CliRunner().invoke(
        cli.app,
        ["studies", "create", "--name", "cli centres", "--run", str(run_id), "--method",
         "centre", "--quota", "guided=100", "--method-param", "centre.score=2"],
    )  # fmt: skip
    assert cli_made.exit_code == 0, cli_made.output
    with Session(committed_db) as session:
        made = session.scalar(select(Study).where(Study.name == "cli centres"))
        assert made is not None and made.method_params == {"centre": {"score": 2.0}}


def test_a_method_nobody_registered_is_refused_by_name(client: TestClient, db: Session) -> None:
    researcher = make_user(db, Role.RESEARCHER)
    db.commit()
    csrf = login(client, researcher)
    study = {"name": "s", "run_ids": [1], "methods": ["bogus", "random"], "quotas": {"random": 1}}
    api = client.post("/api/studies", headers={"X-CSRF-Token": csrf}, json=study)
    assert api.status_code == 422
    assert api.json()["detail"][0]["loc"] == ["body", "methods", 0]
    assert UNKNOWN in api.json()["detail"][0]["msg"]
    form = client.post(
        "/studies",
        data={"name": "s", "run_ids": "1", "methods": ["bogus", "random"], "items": "300",
              "quota_guided": "0", "quota_random": "100", "quota_control": "0",
              "csrf_token": csrf},
    )  # fmt: skip
    assert form.status_code == 422
    assert f"methods.0: {UNKNOWN}" in html.unescape(form.text)
    command = ["studies", "create", "--name", "s", "--run", "1", "--method", "bogus"]
    refused = CliRunner().invoke(cli.app, command)
    assert refused.exit_code == 1 and f"methods.0: {UNKNOWN}" in refused.output
    assert "centre" not in registry.names()  # the test method is gone once its test ends


def test_a_method_name_must_be_new_fit_the_item_column_and_not_be_control() -> None:
    for name in ("control", "a" * 17, "Centre", "random"):
        method = CentreCrops()
        method.name = name  # type: ignore[misc]
        with pytest.raises(ValueError, match="proposal method name|registered already"):
            registry.register(method)
    assert registry.names() == ["text", "guided", "detector", "random"]
