"""Admin user management and each user's own API tokens (HTML)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.auth import security
from app.auth.dependencies import AdminUser, AnyUser
from app.auth.security import MIN_PASSWORD_LENGTH
from app.db import SessionDep
from app.domain.bounds import DbId
from app.domain.roles import Role, TokenScope
from app.domain.validation import validation_message
from app.errors import UserError
from app.users import groups, service
from app.users.models import User
from app.users.schemas import TokenCreate, UserCreate, UserUpdate
from app.web import hx_redirect, render

router = APIRouter(tags=["users"])


def _users_page(
    request: Request,
    session: SessionDep,
    *,
    error: str | None = None,
    group_error: str | None = None,
    group_form: dict[str, str] | None = None,
    status_code: int = 200,
    reset: dict[str, str | None] | None = None,
    new_user: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "users/list.html",
        {
            "users": service.list_users(session),
            "roles": list(Role),
            "error": error,
            "groups": groups.list_groups(session),
            "group_error": group_error,
            "group_form": group_form or {},
            "reset": reset,
            # The Add a user form as typed (never its password), after a refusal.
            "new_user": new_user or {"username": "", "role": Role.ANNOTATOR.value},
        },
        status_code=status_code,
    )


@router.get("/admin/users", name="users_list")
def users_list(request: Request, user: AdminUser, session: SessionDep) -> Response:
    return _users_page(request, session)


@router.post("/admin/users", name="users_create")
def users_create(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    username: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    typed = {"username": username, "role": role}
    try:
        service.create_user(session, UserCreate(username=username, role=role, password=password))
    except ValidationError as exc:
        message = validation_message(exc.errors())
        return _users_page(request, session, error=message, new_user=typed, status_code=422)
    except UserError as exc:
        return _users_page(
            request, session, error=exc.message, new_user=typed, status_code=exc.status_code
        )
    return hx_redirect(request, "/admin/users")


@router.post("/admin/users/{user_id}", name="users_update")
def users_update(
    request: Request,
    user_id: DbId,
    user: AdminUser,
    session: SessionDep,
    role: Annotated[str | None, Form()] = None,
    is_active: Annotated[str | None, Form()] = None,
    is_active_sent: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        update = UserUpdate(
            role=role or None,
            # An unticked checkbox sends nothing; the hidden marker says the box was shown.
            is_active=(is_active == "true") if is_active_sent else None,
            password=password or None,
        )
        service.update_user(session, user_id, update, actor=user)
    except ValidationError as exc:
        return _users_page(
            request, session, error=validation_message(exc.errors()), status_code=422
        )
    except UserError as exc:
        return _users_page(request, session, error=exc.message, status_code=exc.status_code)
    return hx_redirect(request, "/admin/users")


def _group_refused(
    request: Request, session: SessionDep, exc: UserError, typed: dict[str, str]
) -> Response:
    """The users page again, with why a group change was refused and what was typed."""
    session.rollback()
    return _users_page(
        request, session, group_error=exc.message, group_form=typed, status_code=exc.status_code
    )


@router.post("/admin/groups", name="groups_create")
def groups_create(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    group_name: Annotated[str, Form()] = "",
) -> Response:
    try:
        groups.create_group(session, group_name)
    except UserError as exc:
        return _group_refused(request, session, exc, {"new": group_name})
    return hx_redirect(request, "/admin/users#groups")


@router.post("/admin/groups/{group_id}/members", name="groups_member_add")
def groups_member_add(
    request: Request,
    group_id: DbId,
    user: AdminUser,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
) -> Response:
    try:
        groups.add_to_group(session, group_id, username)
    except UserError as exc:
        return _group_refused(request, session, exc, {str(group_id): username})
    return hx_redirect(request, "/admin/users#groups")


@router.post("/admin/groups/{group_id}/members/remove", name="groups_member_remove")
def groups_member_remove(
    request: Request,
    group_id: DbId,
    user: AdminUser,
    session: SessionDep,
    user_id: Annotated[DbId, Form()],
) -> Response:
    groups.remove_from_group(session, group_id, user_id)
    return hx_redirect(request, "/admin/users#groups")


@router.post("/admin/users/{user_id}/password", name="users_reset_password")
def users_reset_password(
    request: Request,
    user_id: DbId,
    user: AdminUser,
    session: SessionDep,
    password: Annotated[str, Form()] = "",
) -> Response:
    """Sets the typed password, or makes one (an empty field) and shows it this once."""
    try:
        chosen = service.reset_password(session, user_id, password or None, actor=user)
    except ValidationError as exc:
        return _users_page(
            request, session, error=validation_message(exc.errors()), status_code=422
        )
    except UserError as exc:
        return _users_page(request, session, error=exc.message, status_code=exc.status_code)
    username = service.get_user(session, user_id).username
    return _users_page(
        request,
        session,
        reset={"username": username, "password": None if password else chosen},
    )


def _password_page(
    request: Request, *, done: bool = False, error: str | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "account/password.html",
        {"done": done, "error": error, "min_length": MIN_PASSWORD_LENGTH},
        status_code=status_code,
    )


@router.get("/account/password", name="password_form")
def password_form(request: Request, user: AnyUser) -> Response:
    return _password_page(request)


@router.post("/account/password", name="password_change")
def password_change(
    request: Request,
    user: AnyUser,
    session: SessionDep,
    current_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
    new_password_again: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Ends every session and token of the user, then logs this browser in again."""
    if new_password != new_password_again:
        return _password_page(
            request, error="the two new passwords differ; type the same one twice", status_code=422
        )
    try:
        secret = service.change_own_password(session, user, current_password, new_password)
    except ValidationError as exc:
        return _password_page(request, error=validation_message(exc.errors()), status_code=422)
    except UserError as exc:
        return _password_page(request, error=exc.message, status_code=exc.status_code)
    request.session.update(
        {"sid": secret, "pwf": security.password_fingerprint(user.password_hash)}
    )
    return _password_page(request, done=True)


def _tokens_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    new_token: str | None = None,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "account/tokens.html",
        {
            "tokens": service.list_tokens(session, user),
            "new_token": new_token,
            "form": form or {"name": "", "scope": TokenScope.FULL.value},
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/account/tokens", name="tokens_list")
def tokens_list(request: Request, user: AnyUser, session: SessionDep) -> Response:
    return _tokens_page(request, session, user)


@router.post("/account/tokens", name="tokens_create")
def tokens_create(
    request: Request,
    user: AnyUser,
    session: SessionDep,
    # As typed: TokenCreate checks it, so that a refused name comes back in the form.
    name: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = TokenScope.FULL.value,
) -> Response:
    form = {"name": name, "scope": scope}
    try:
        data = TokenCreate.model_validate({**form, "name": name.strip()})
    except ValidationError as exc:
        return _tokens_page(
            request,
            session,
            user,
            form=form,
            error=validation_message(exc.errors()),
            status_code=422,
        )
    _, secret = service.create_token(session, user, data.name, data.scope)
    return _tokens_page(request, session, user, new_token=secret)


@router.post("/account/tokens/{token_id}/revoke", name="tokens_revoke")
def tokens_revoke(request: Request, token_id: DbId, user: AnyUser, session: SessionDep) -> Response:
    service.revoke_token(session, user, token_id)
    return hx_redirect(request, "/account/tokens")
