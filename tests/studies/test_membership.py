"""Study membership: a study is open to every annotator (the default) or to its members alone,
the users and groups a researcher lists. To anyone else a members-only study does not exist:
not in the queue, 404 on every path that names it or something of it (study page, next item,
item, submit, skip, back, revisions, history, images, the JSON API), and nothing changes."""

from __future__ import annotations

import uuid
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.errors import Conflict, InvalidInput, NotFound
from app.studies import members, queries
from app.studies.models import Annotation, Assignment, Study
from app.users import groups
from app.users import service as user_service
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import open_study_with_items


def _as(client: TestClient, engine: Engine, role: Role) -> tuple[TestClient, str]:
    """A client acting as a new user of the role (by API token), and the username."""
    with Session(engine, expire_on_commit=False) as session:
        user = make_user(session, role)
        _, secret = user_service.create_token(session, user, "t")
        session.commit()
    return TestClient(client.app, headers={"Authorization": f"Bearer {secret}"}), user.username


def _label(client: TestClient, study_id: int) -> tuple[int, int]:
    """Take the next item and label it through the API: (assignment id, annotation id)."""
    lease = client.post(f"/api/studies/{study_id}/next")
    assert lease.status_code == 200, lease.text
    assignment_id = lease.json()["assignment_id"]
    stored = client.post(
        f"/api/assignments/{assignment_id}/annotation",
        json={"client_id": uuid.uuid4().hex, "verdict": "no_miscompression"},
    )
    assert stored.status_code == 201, stored.text
    return assignment_id, stored.json()["id"]


def _rows(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Assignment)) or 0,
            session.scalar(select(func.count()).select_from(Annotation)) or 0,
        )


def test_a_members_only_study_exists_only_for_its_members(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id, _ = open_study_with_items(committed_db, 6, raters_per_item=4)
    listed, listed_name = _as(committed_client, committed_db, Role.ANNOTATOR)
    grouped, grouped_name = _as(committed_client, committed_db, Role.ANNOTATOR)
    outsider, _ = _as(committed_client, committed_db, Role.ANNOTATOR)
    former, _ = _as(committed_client, committed_db, Role.ANNOTATOR)
    with Session(committed_db) as session:
        name = session.get(Study, study_id).name  # type: ignore[union-attr]

    # A study is open to every annotator until a researcher restricts it.
    for rater in (listed, grouped, outsider, former):
        assert name in rater.get("/annotate").text
    former_lease, former_annotation = _label(former, study_id)
    held_lease = former.post(f"/api/studies/{study_id}/next").json()["assignment_id"]

    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        members.set_members_only(session, study, True)
        members.add_member(session, study, "user", listed_name.upper(), actor=None)
        team = groups.create_group(session, "team-a")
        groups.add_to_group(session, team.id, grouped_name)
        members.add_member(session, study, "group", "team-a", actor=None)
        session.commit()

    for rater in (listed, grouped):
        assert name in rater.get("/annotate").text
        assert rater.get(f"/annotate/studies/{study_id}").status_code == 200
        _label(rater, study_id)

    before = _rows(committed_db)
    for rater, owned in ((outsider, {}), (former, {"a": former_lease, "n": former_annotation})):
        assert name not in rater.get("/annotate").text
        answers = {
            "page": rater.get(f"/annotate/studies/{study_id}"),
            "next": rater.post(f"/annotate/studies/{study_id}/next"),
            "back": rater.get(f"/annotate/studies/{study_id}/back"),
            "api next": rater.post(f"/api/studies/{study_id}/next"),
        }
        if owned:
            body = {"client_id": uuid.uuid4().hex, "verdict": "unsure"}
            answers |= {
                "item": rater.get(f"/annotate/items/{owned['a']}"),
                "held item": rater.get(f"/annotate/items/{held_lease}"),
                "submit": rater.post(f"/api/assignments/{held_lease}/annotation", json=body),
                "skip": rater.post(f"/api/assignments/{held_lease}/skip"),
                "web skip": rater.post(f"/annotate/items/{held_lease}/skip"),
                "ahead": rater.post(f"/annotate/items/{held_lease}/ahead"),
                "revise form": rater.get(f"/annotate/annotations/{owned['n']}"),
                "revise": rater.put(
                    f"/api/annotations/{owned['n']}", json={**body, "base_revision": 1}
                ),
            }
        wrong = {what: r.status_code for what, r in answers.items() if r.status_code != 404}
        assert not wrong, wrong
        # Answered as a study that does not exist: nothing says it is there.
        missing = rater.post("/api/studies/999999/next").json()["detail"]
        hidden = answers["api next"].json()["detail"]
        assert hidden == missing.replace("999999", str(study_id))
        assert "not found" in answers["page"].text
    # The former rater's history no longer lists the study's annotations.
    assert former.get("/api/annotations/mine").json() == []
    assert f"/annotate/annotations/{former_annotation}" not in former.get("/annotate/history").text
    assert _rows(committed_db) == before

    # Opening the study to everyone again gives everything back.
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        members.set_members_only(session, study, False)
        session.commit()
    assert name in outsider.get("/annotate").text
    assert former.get(f"/annotate/annotations/{former_annotation}").status_code == 200


def test_membership_is_edited_by_name_with_plain_refusals(
    committed_db: Engine,
) -> None:
    study_id, _ = open_study_with_items(committed_db, 2)
    with Session(committed_db, expire_on_commit=False) as session:
        study = session.get(Study, study_id)
        assert study is not None
        rater = make_user(session, Role.ANNOTATOR, username="rater-x")
        researcher = make_user(session, Role.RESEARCHER)
        refusals = {
            "": (InvalidInput, "type the name of the user to add"),
            "nobody": (NotFound, "there is no user named 'nobody'"),
            researcher.username: (InvalidInput, "not an annotator"),
        }
        for name, (error, words) in refusals.items():
            with pytest.raises(error, match=words):
                members.add_member(session, study, "user", name, actor=None)
        member = members.add_member(session, study, "user", " rater-x ", actor=researcher)
        with pytest.raises(Conflict, match="user 'rater-x' is a member of this study already"):
            members.add_member(session, study, "user", "RATER-X", actor=None)
        with pytest.raises(NotFound, match="no group named 'no-such-team'"):
            members.add_member(session, study, "group", "no-such-team", actor=None)
        assert [(m.kind, m.name) for m in members.members(session, study)] == [("user", "rater-x")]
        # The list is kept while the study is open to all; it counts once members-only.
        outsider = make_user(session, Role.ANNOTATOR)
        assert queries.open_studies_for_people(session, outsider) == [study]
        members.set_members_only(session, study, True)
        assert queries.open_studies_for_people(session, outsider) == []
        assert queries.open_studies_for_people(session, rater) == [study]
        members.remove_member(session, study, member.id)
        assert queries.open_studies_for_people(session, rater) == []
        with pytest.raises(NotFound, match="removed already"):
            members.remove_member(session, study, member.id)
        session.rollback()


def test_researchers_restrict_a_study_and_admins_make_groups_on_the_pages(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id, _ = open_study_with_items(committed_db, 2)
    with Session(committed_db, expire_on_commit=False) as session:
        admin = make_user(session, Role.ADMIN)
        researcher = make_user(session, Role.RESEARCHER)
        make_user(session, Role.ANNOTATOR, username="ann-one")
        session.commit()
    csrf = login(committed_client, admin)
    client = committed_client
    client.headers["X-CSRF-Token"] = csrf

    made = client.post("/admin/groups", data={"group_name": "lab"})
    assert made.status_code == 303
    refused = client.post("/admin/groups", data={"group_name": "lab"})
    assert refused.status_code == 409
    assert "a group named 'lab' exists already" in unescape(refused.text)
    assert 'value="lab"' in refused.text
    with Session(committed_db) as session:
        (lab,) = groups.list_groups(session)
    unknown = client.post(f"/admin/groups/{lab.id}/members", data={"username": "ghost"})
    assert unknown.status_code == 404 and "there is no user named 'ghost'" in unescape(unknown.text)
    assert 'value="ghost"' in unescape(unknown.text)
    assert client.post(f"/admin/groups/{lab.id}/members", data={"username": "ann-one"}).is_redirect
    assert "Remove ann-one from lab" in client.get("/admin/users").text

    client = TestClient(committed_client.app, follow_redirects=False)
    client.headers["X-CSRF-Token"] = login(client, researcher)
    url = f"/studies/{study_id}"
    assert "Every annotator." in client.get(url).text
    assert client.post(f"{url}/access", data={"members_only": "true"}).status_code == 303
    page = client.get(url).text
    assert "Members only" in page and "nobody can annotate this study" in page
    refused = client.post(f"{url}/members", data={"kind": "user", "member_name": "ghost"})
    assert refused.status_code == 404
    assert "there is no user named 'ghost'" in unescape(refused.text)
    assert 'value="ghost"' in refused.text
    added = client.post(f"{url}/members", data={"kind": "group", "member_name": "lab"})
    assert added.status_code == 303
    page = client.get(url).text
    assert "group of 1 user" in page and "Remove lab" in page
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None and study.members_only
        (member,) = members.members(session, study)
    gone = client.post(f"{url}/members/remove", data={"member_id": str(member.id)})
    assert gone.status_code == 303
    again = client.post(f"{url}/members/remove", data={"member_id": str(member.id)})
    assert again.status_code == 404 and "removed already" in unescape(again.text)
    api = client.get(f"/api/studies/{study_id}").json()
    assert api["members_only"] is True and api["members"] == []
