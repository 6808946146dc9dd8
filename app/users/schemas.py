from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.security import MIN_PASSWORD_LENGTH
from app.domain.names import Name
from app.domain.roles import Role, TokenScope

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{2,64}$"


class UserCreate(BaseModel):
    username: Name = Field(pattern=USERNAME_PATTERN)
    role: Role
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)


class UserUpdate(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: Role
    is_active: bool
    created_at: datetime


class TokenCreate(BaseModel):
    name: Name = Field(min_length=1, max_length=100)
    scope: TokenScope = TokenScope.FULL
    """``read``: the token may only GET (an export script, a dashboard)."""


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    scope: TokenScope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str
    """The secret, shown this once; only its hash is stored."""
