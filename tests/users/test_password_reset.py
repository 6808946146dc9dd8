"""An admin resets a user's password (typed, or made and shown once); users change their own.
Either way the old password stops working, the user's sessions and API tokens end, and the
audit log says who did it."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.listener import set_actor
from app.audit.models import AuditLog
from app.domain.roles import Role
from app.errors import Conflict
from app.users import service
from app.users.models import ApiToken
from tests.conftest import csrf_of, login
from tests.factories import DEFAULT_PASSWORD, make_user


def _logs_in(client: TestClient, username: str, password: str) -> bool:
    """Whether a new browser logs in with the password (False: refused as wrong, not as
    throttled)."""
    browser = TestClient(client.app, follow_redirects=False)
    answer = browser.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(browser)},
    )
    assert answer.status_code in (303, 401), answer.text
    if answer.status_code == 401:
        # Past the delay a failed login imposes (MISCOMP_LOGIN_DELAY_BASE_S, 0.2 s in tests),
        # so that the next attempt is judged by its password.
        time.sleep(0.3)
    return answer.status_code == 303


def test_a_reset_ends_the_users_sessions_and_tokens_and_is_audited(
    client: TestClient, db: Session
) -> None:
    admin = make_user(db, Role.ADMIN)
    user = make_user(db, Role.ANNOTATOR)
    token, secret = service.create_token(db, user, "script")
    laptop = TestClient(client.app, follow_redirects=False)
    login(laptop, user)
    db.commit()

    set_actor(db, actor_id=admin.id, label=admin.username)  # as the admin's request does
    made = service.reset_password(db, user.id, None, actor=admin)
    db.commit()
    assert len(made) >= 16
    assert laptop.get("/api/me").status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert db.get(ApiToken, token.id).revoked_at is not None  # type: ignore[union-attr]
    assert not _logs_in(client, user.username, DEFAULT_PASSWORD)
    assert _logs_in(client, user.username, made)

    change = db.scalars(
        select(AuditLog).where(
            AuditLog.entity_type == "user",
            AuditLog.entity_id == str(user.id),
            AuditLog.action == "update",
        )
    ).one()
    assert change.actor_id == admin.id
    assert change.after == {"password_hash": "[redacted]"}

    with pytest.raises(Conflict, match="change your own password on the Password page"):
        service.reset_password(db, admin.id, "a new password", actor=admin)


def test_an_admin_resets_a_password_in_the_users_page(client: TestClient, db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    user = make_user(db, Role.RESEARCHER)
    db.commit()
    csrf = login(client, admin)
    page = client.get("/admin/users").text
    assert f'aria-label="Reset the password of {user.username}"' in page
    assert f'aria-label="Reset the password of {admin.username}"' not in page  # their own: Password

    made = client.post(
        f"/admin/users/{user.id}/password", data={"csrf_token": csrf, "password": ""}
    )
    assert made.status_code == 200
    shown = re.search(r'data-testid="new-password">([^<]+)</code>', made.text)
    assert shown is not None and f"The password of {user.username} was reset" in made.text
    assert _logs_in(client, user.username, shown.group(1))
    assert shown.group(1) not in client.get("/admin/users").text  # shown once

    typed = client.post(
        f"/admin/users/{user.id}/password", data={"csrf_token": csrf, "password": "chosen by admin"}
    )
    assert typed.status_code == 200 and 'data-testid="new-password"' not in typed.text
    assert _logs_in(client, user.username, "chosen by admin")
    assert not _logs_in(client, user.username, shown.group(1))

    short = client.post(
        f"/admin/users/{user.id}/password", data={"csrf_token": csrf, "password": "short"}
    )
    assert short.status_code == 422 and "at least 8 characters" in short.text
    assert _logs_in(client, user.username, "chosen by admin")
    missing = client.post("/admin/users/999999/password", data={"csrf_token": csrf})
    assert missing.status_code == 404 and "user 999999 not found" in missing.text


def test_users_change_their_own_password_and_stay_logged_in_here_only(
    client: TestClient, db: Session
) -> None:
    user = make_user(db, Role.ANNOTATOR)
    db.commit()
    phone = TestClient(client.app, follow_redirects=False)
    login(phone, user)
    csrf = login(client, user)
    fields = {"csrf_token": csrf, "current_password": DEFAULT_PASSWORD}

    wrong = client.post(
        "/account/password",
        data={**fields, "current_password": "guess", "new_password": "new secret 1",
              "new_password_again": "new secret 1"},
    )  # fmt: skip
    assert wrong.status_code == 422 and "the current password is wrong" in wrong.text
    differ = client.post(
        "/account/password",
        data={**fields, "new_password": "new secret 1", "new_password_again": "new secret 2"},
    )
    assert differ.status_code == 422 and "the two new passwords differ" in differ.text
    assert _logs_in(client, user.username, DEFAULT_PASSWORD)

    changed = client.post(
        "/account/password",
        data={**fields, "new_password": "new secret 1", "new_password_again": "new secret 1"},
    )
    assert changed.status_code == 200 and "Your password was changed" in changed.text
    assert client.get("/api/me").json()["username"] == user.username
    assert phone.get("/api/me").status_code == 401
    assert not _logs_in(client, user.username, DEFAULT_PASSWORD)
    assert _logs_in(client, user.username, "new secret 1")
