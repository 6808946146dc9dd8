"""Every create, update and delete leaves an audit row: who, when, what, before and after."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.audit.listener import set_actor
from app.audit.models import AuditLog
from app.domain.roles import Role
from app.studies import assignment, labels
from app.studies.models import Study
from app.studies.schemas import AnnotationEdit, AnnotationSubmit
from app.users.models import User
from tests.conftest import login
from tests.factories import make_dataset, make_user
from tests.studies.helpers import annotators, open_study_with_items


def _entries(db: Session, entity_type: str) -> list[AuditLog]:
    return list(
        db.scalars(
            select(AuditLog).where(AuditLog.entity_type == entity_type).order_by(AuditLog.id)
        )
    )


def test_creates_and_updates_through_the_api_are_audited(client: TestClient, db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    target = make_user(db, Role.ANNOTATOR)
    db.commit()
    csrf = login(client, admin)
    created = client.post(
        "/api/datasets",
        json={"name": "audited", "license": "CC-BY 4.0"},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status_code == 201
    changed = client.patch(
        f"/api/users/{target.id}",
        json={"role": "researcher", "password": "a new password!"},
        headers={"X-CSRF-Token": csrf},
    )
    assert changed.status_code == 200

    (dataset_entry,) = _entries(db, "dataset")
    assert (dataset_entry.action, dataset_entry.actor_id, dataset_entry.actor_label) == (
        "create",
        admin.id,
        admin.username,
    )
    assert dataset_entry.before is None
    assert dataset_entry.after is not None
    assert dataset_entry.after["name"] == "audited"
    assert dataset_entry.after["license"] == "CC-BY 4.0"
    assert dataset_entry.entity_id == str(created.json()["id"])

    update = _entries(db, "user")[-1]
    assert update.action == "update" and update.entity_id == str(target.id)
    assert update.before == {"password_hash": "[redacted]", "role": "annotator"}
    assert update.after == {"password_hash": "[redacted]", "role": "researcher"}


def test_deletes_are_audited_with_the_last_state(db: Session) -> None:
    dataset = make_dataset(db, "short-lived", license="CC0")
    set_actor(db, actor_id=None, label="cli")
    db.delete(dataset)
    db.flush()
    deleted = _entries(db, "dataset")[-1]
    assert (deleted.action, deleted.actor_label, deleted.after) == ("delete", "cli", None)
    assert deleted.before is not None and deleted.before["name"] == "short-lived"


def test_audit_page_is_readable_by_admins(client: TestClient, db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    make_dataset(db, "visible-in-log")
    db.commit()
    login(client, admin)
    page = client.get("/admin/audit", params={"entity_type": "dataset"})
    assert page.status_code == 200
    assert "visible-in-log" in page.text
    api = client.get("/api/audit", params={"entity_type": "dataset"}).json()
    assert api["total"] == 1 and api["items"][0]["after"]["name"] == "visible-in-log"


def test_annotations_and_each_revision_are_audited(committed_db: Engine) -> None:
    """Who labelled what, and every change of mind, is research provenance."""
    study_id, _ = open_study_with_items(committed_db, 1, raters_per_item=1)
    (rater_id,) = annotators(committed_db, 1)
    with Session(committed_db) as session:
        study, rater = session.get(Study, study_id), session.get(User, rater_id)
        assert study is not None and rater is not None
        set_actor(session, actor_id=rater.id, label=rater.username)
        lease = assignment.next_item(session, study, rater)
        assert lease is not None
        first = AnnotationSubmit(client_id="audited-1", verdict="unsure", note="hm")
        annotation_id = labels.submit(session, lease.id, rater, first).id
        second = AnnotationEdit(client_id="audited-2", verdict="no_miscompression", base_revision=1)
        labels.revise(session, annotation_id, rater, second)
        created, updated = _entries(session, "annotation")
    assert (created.action, created.actor_id, created.entity_id) == (
        "create",
        rater_id,
        str(annotation_id),
    )
    assert created.after is not None
    assert (created.after["verdict"], created.after["note"], created.after["late"]) == (
        "unsure",
        "hm",
        False,
    )
    assert (updated.action, updated.actor_id) == ("update", rater_id)
    assert updated.before == {"note": "hm", "revision": 1, "verdict": "unsure"}
    assert updated.after == {"note": "", "revision": 2, "verdict": "no_miscompression"}
