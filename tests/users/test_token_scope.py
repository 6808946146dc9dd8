"""A read-only API token lets a script read what its owner's role may read, and nothing else:
every change it asks for is 403, whatever the role allows. Made on the tokens page, through
the API or with ``miscomp users token``."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.domain.roles import Role, TokenScope
from app.users.models import ApiToken
from tests.conftest import login
from tests.factories import make_user


def test_a_read_token_reads_and_changes_nothing(
    committed_client: TestClient, committed_db: Engine
) -> None:
    with Session(committed_db, expire_on_commit=False) as session:
        admin = make_user(session, Role.ADMIN)
        session.commit()
    result = CliRunner().invoke(cli.app, ["users", "token", admin.username, "--scope", "read"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    reader = {"Authorization": f"Bearer {secret}"}
    assert committed_client.get("/api/me", headers=reader).json()["username"] == admin.username
    assert committed_client.get("/api/datasets", headers=reader).status_code == 200
    with Session(committed_db) as session:
        tokens_before = session.scalar(select(func.count()).select_from(ApiToken))
    for method, path, body in (
        ("POST", "/api/datasets", {"name": "made-by-a-reader"}),
        ("POST", "/api/tokens", {"name": "another"}),
        ("DELETE", "/api/tokens/1", None),
        ("POST", "/api/studies/1/exports", {}),
    ):
        answer = committed_client.request(method, path, json=body, headers=reader)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["detail"] == "this API token is read-only: it may only GET"
    with Session(committed_db) as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == tokens_before
        scopes = session.scalars(select(ApiToken.scope).where(ApiToken.user_id == admin.id))
        assert list(scopes) == [TokenScope.READ]


def test_the_tokens_page_and_the_api_make_either_scope(
    committed_client: TestClient, committed_db: Engine
) -> None:
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    csrf = login(committed_client, researcher)
    page = committed_client.post(
        "/account/tokens", data={"name": "dashboard", "scope": "read", "csrf_token": csrf}
    )
    assert page.status_code == 200 and "read-only" in page.text
    made = committed_client.post(
        "/api/tokens", json={"name": "full script"}, headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 201 and made.json()["scope"] == "full"
    full = {"Authorization": f"Bearer {made.json()['token']}"}
    assert committed_client.post("/api/tokens", json={"name": "x"}, headers=full).status_code == 201
    wrong = committed_client.post(
        "/api/tokens", json={"name": "x", "scope": "admin"}, headers={"X-CSRF-Token": csrf}
    )
    assert wrong.status_code == 422


def test_the_command_refuses_an_unknown_user(committed_db: Engine) -> None:
    result = CliRunner().invoke(cli.app, ["users", "token", "nobody-at-all"])
    assert result.exit_code == 1 and "user 'nobody-at-all' not found" in result.output
    bad_scope = CliRunner().invoke(cli.app, ["users", "token", "x", "--scope", "write"])
    assert bad_scope.exit_code == 2
