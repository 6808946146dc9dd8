"""JSON API for users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.auth.dependencies import AdminUser, AnyUser
from app.db import SessionDep
from app.domain.bounds import DbId
from app.users import service
from app.users.schemas import TokenCreate, TokenCreated, TokenRead, UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/me", response_model=UserRead)
def me(user: AnyUser) -> UserRead:
    return UserRead.model_validate(user)


@router.get("/users", response_model=list[UserRead])
def list_users(user: AdminUser, session: SessionDep) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in service.list_users(session)]


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, user: AdminUser, session: SessionDep) -> UserRead:
    return UserRead.model_validate(service.create_user(session, data))


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(user_id: DbId, data: UserUpdate, user: AdminUser, session: SessionDep) -> UserRead:
    return UserRead.model_validate(service.update_user(session, user_id, data, actor=user))


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(user: AnyUser, session: SessionDep) -> list[TokenRead]:
    return [TokenRead.model_validate(t) for t in service.list_tokens(session, user)]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(data: TokenCreate, user: AnyUser, session: SessionDep) -> TokenCreated:
    token, secret = service.create_token(session, user, data.name, data.scope)
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: DbId, user: AnyUser, session: SessionDep) -> TokenRead:
    return TokenRead.model_validate(service.revoke_token(session, user, token_id))
