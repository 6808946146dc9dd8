from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.security import hash_password, verify_password
from app.domain.roles import Role
from app.users import service
from app.users.models import ApiToken, LoginAttempt
from tests.conftest import csrf_of, login
from tests.factories import DEFAULT_PASSWORD, make_user


def test_password_is_stored_as_argon2_hash(db: Session) -> None:
    user = make_user(db, Role.ADMIN)
    assert user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash
    assert verify_password(user.password_hash, DEFAULT_PASSWORD)


def test_login_sets_a_signed_httponly_samesite_cookie(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.RESEARCHER)
    token = csrf_of(client)
    response = client.post(
        "/login",
        data={"username": user.username, "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "miscomp_session=" in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/api/me").json()["username"] == user.username


def test_wrong_password_is_refused_and_recorded(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.ADMIN)
    response = client.post(
        "/login",
        data={"username": user.username, "password": "nope-nope", "csrf_token": csrf_of(client)},
    )
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert client.get("/api/me").status_code == 401
    attempts = db.scalars(select(LoginAttempt).where(LoginAttempt.username == user.username))
    assert [a.succeeded for a in attempts] == [False]


def test_login_without_csrf_token_is_refused(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.ADMIN)
    client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 403
    assert client.get("/api/me").status_code == 401


def test_state_changing_form_without_csrf_changes_nothing(client: TestClient, db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    login(client, admin)
    response = client.post("/datasets", data={"name": "forged"})
    assert response.status_code == 403
    assert "CSRF" in response.text
    listing = client.get("/api/datasets").json()
    assert [d["name"] for d in listing] == []


def test_deactivated_user_loses_the_session(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.RESEARCHER)
    login(client, user)
    user.is_active = False
    db.flush()
    assert client.get("/api/me").status_code == 401


def test_open_redirect_after_login_is_prevented(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.ADMIN)
    response = client.post(
        "/login",
        data={
            "username": user.username,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_of(client),
            "next": "https://evil.example/",
        },
    )
    assert response.headers["location"] == "/"


def test_api_token_lifecycle(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.RESEARCHER)
    csrf = login(client, user)
    created = client.post("/api/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    secret = created.json()["token"]
    stored = db.scalars(select(ApiToken)).one()
    assert secret not in (stored.token_hash, stored.prefix)
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()

    script = TestClient(client.app)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert script.get("/api/me", headers=bearer).json()["username"] == user.username
    # A token acts with its owner's role: a researcher's token cannot create datasets.
    assert script.post("/api/datasets", json={"name": "x"}, headers=bearer).status_code == 403

    revoked = client.delete(f"/api/tokens/{stored.id}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert script.get("/api/me", headers=bearer).status_code == 401
    assert script.get("/api/me", headers={"Authorization": "Bearer mc_forged"}).status_code == 401


def test_users_cannot_revoke_each_others_tokens(client: TestClient, db: Session) -> None:
    owner = make_user(db, Role.ANNOTATOR)
    other = make_user(db, Role.ADMIN)
    token, _ = service.create_token(db, owner, "mine")
    csrf = login(client, other)
    response = client.delete(f"/api/tokens/{token.id}", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 404
    db.refresh(token)
    assert token.revoked_at is None


def test_password_change_ends_existing_sessions(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.ANNOTATOR)
    login(client, user)
    user.password_hash = hash_password("a brand new password")
    db.flush()
    assert client.get("/api/me").status_code == 401
