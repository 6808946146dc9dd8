"""Sessions live on the server: logout, a password change and deactivation end them, and a
cookie saved beforehand is worthless afterwards."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.domain.roles import Role
from app.users import service
from app.users.models import ApiToken, User, UserSession
from tests.conftest import login
from tests.factories import make_user

COOKIE = "miscomp_session"


def _browser_with(client: TestClient, cookie: str) -> TestClient:
    """Another browser holding a copy of a session cookie."""
    return TestClient(client.app, cookies={COOKIE: cookie})


def _sessions_of(db: Session, user: User) -> list[UserSession]:
    return list(
        db.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id)
            .execution_options(populate_existing=True)
        )
    )


def test_logout_ends_the_session_for_a_saved_copy_of_the_cookie(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.RESEARCHER)
    csrf = login(client, user)
    saved = client.cookies[COOKIE]
    assert _browser_with(client, saved).get("/api/me").status_code == 200

    logged_out = client.post("/logout", data={"csrf_token": csrf})
    assert logged_out.status_code == 303
    assert client.get("/api/me").status_code == 401
    assert _browser_with(client, saved).get("/api/me").status_code == 401
    [row] = _sessions_of(db, user)
    assert row.revoked_at is not None


def test_each_login_is_its_own_session_and_logout_ends_only_that_one(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.ANNOTATOR)
    laptop = TestClient(client.app, follow_redirects=False)
    csrf = login(client, user)
    login(laptop, user)
    client.post("/logout", data={"csrf_token": csrf})
    assert client.get("/api/me").status_code == 401
    assert laptop.get("/api/me").json()["username"] == user.username
    assert sorted(r.revoked_at is None for r in _sessions_of(db, user)) == [False, True]


def test_a_password_change_ends_every_session_and_api_token_of_the_user(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.RESEARCHER)
    bystander = make_user(db, Role.RESEARCHER)
    _, secret = service.create_token(db, user, "script")
    _, bystander_secret = service.create_token(db, bystander, "theirs")
    phone = TestClient(client.app, follow_redirects=False)
    login(phone, user)
    bystanders_browser = TestClient(client.app, follow_redirects=False)
    login(bystanders_browser, bystander)
    admin = make_user(db, Role.ADMIN)
    csrf = login(client, admin)

    changed = client.patch(
        f"/api/users/{user.id}",
        json={"password": "an entirely new passphrase"},
        headers={"X-CSRF-Token": csrf},
    )
    assert changed.status_code == 200
    assert phone.get("/api/me").status_code == 401
    script = TestClient(client.app)
    assert script.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert all(r.revoked_at is not None for r in _sessions_of(db, user))
    assert db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one().revoked_at
    # Nobody else's sessions or tokens are touched.
    assert bystanders_browser.get("/api/me").status_code == 200
    bearer = {"Authorization": f"Bearer {bystander_secret}"}
    assert script.get("/api/me", headers=bearer).status_code == 200
    assert client.get("/api/me").json()["username"] == admin.username


def test_deactivation_ends_sessions_and_tokens_and_reactivation_does_not_revive_them(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.ANNOTATOR)
    _, secret = service.create_token(db, user, "script")
    browser = TestClient(client.app, follow_redirects=False)
    login(browser, user)
    admin = make_user(db, Role.ADMIN)
    csrf = login(client, admin)

    for active in ("false", "true"):
        form = {"csrf_token": csrf, "is_active_sent": "1", "role": "annotator"}
        if active == "true":
            form["is_active"] = "true"
        assert client.post(f"/admin/users/{user.id}", data=form).status_code == 303
    db.refresh(user)
    assert user.is_active
    assert browser.get("/api/me").status_code == 401
    script = TestClient(client.app)
    assert script.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_a_session_older_than_the_maximum_age_is_refused(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.RESEARCHER)
    login(client, user)
    max_age = timedelta(seconds=client.app.state.settings.session_max_age_s)  # type: ignore[attr-defined]
    db.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id)
        .values(created_at=utcnow() - max_age - timedelta(minutes=1))
    )
    assert client.get("/api/me").status_code == 401


def test_requests_record_when_a_session_was_last_seen(client: TestClient, db: Session) -> None:
    user = make_user(db, Role.RESEARCHER)
    login(client, user)
    long_ago = utcnow() - timedelta(hours=3)
    db.execute(
        update(UserSession).where(UserSession.user_id == user.id).values(last_seen_at=long_ago)
    )
    assert client.get("/api/me").status_code == 200
    [row] = _sessions_of(db, user)
    assert row.last_seen_at > long_ago + timedelta(hours=2)


def _flip(text: str, index: int) -> str:
    """``text`` with the base64 character at ``index`` replaced by another (one whose six
    bits all carry data: not the last character of a signature)."""
    return text[:index] + ("B" if text[index] == "A" else "A") + text[index + 1 :]


def test_a_tampered_session_cookie_is_no_session(client: TestClient, db: Session) -> None:
    """The cookie is signed (payload.timestamp.signature): changing any part of it, or
    pairing one session's payload with another's signature, logs nobody in."""
    researcher, admin = make_user(db, Role.RESEARCHER), make_user(db, Role.ADMIN)
    login(client, researcher)
    other = TestClient(client.app, follow_redirects=False)
    login(other, admin)
    mine, theirs = client.cookies[COOKIE], other.cookies[COOKIE]
    for cookie, user in ((mine, researcher), (theirs, admin)):
        assert _browser_with(client, cookie).get("/api/me").json()["username"] == user.username
    payload, signed = mine.split(".", 1)
    their_payload, their_signed = theirs.split(".", 1)
    timestamp, signature = signed.split(".")
    tampered = {
        "the admin's payload under the researcher's signature": f"{their_payload}.{signed}",
        "the researcher's payload under the admin's signature": f"{payload}.{their_signed}",
        "a byte of the signature": f"{payload}.{timestamp}.{_flip(signature, 0)}",
        "a byte of the payload": f"{_flip(payload, len(payload) // 2)}.{signed}",
    }
    for how, cookie in tampered.items():
        browser = _browser_with(client, cookie)
        assert browser.get("/api/me").status_code == 401, how
        assert browser.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
