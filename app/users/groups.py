"""User groups: named sets of users that a study can be opened to at once. Admins make them
and fill them on the users page."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.users.models import User, UserGroup, UserGroupMember
from app.users.schemas import USERNAME_PATTERN


@dataclass(frozen=True)
class GroupRow:
    """A group and its users' names, for the users page."""

    id: int
    name: str
    members: tuple[tuple[int, str], ...]
    """(user id, username), by username."""


def list_groups(session: Session) -> list[GroupRow]:
    groups = list(session.scalars(select(UserGroup).order_by(UserGroup.name)))
    rows = session.execute(
        select(UserGroupMember.group_id, User.id, User.username)
        .join(User, User.id == UserGroupMember.user_id)
        .order_by(User.username)
    ).all()
    members: dict[int, list[tuple[int, str]]] = {}
    for group_id, user_id, username in rows:
        members.setdefault(group_id, []).append((user_id, username))
    return [GroupRow(g.id, g.name, tuple(members.get(g.id, []))) for g in groups]


def get_group(session: Session, group_id: int) -> UserGroup:
    group = session.get(UserGroup, group_id)
    if group is None:
        raise NotFound(f"group {group_id} not found")
    return group


def create_group(session: Session, name: str) -> UserGroup:
    name = name.strip()
    if not re.fullmatch(USERNAME_PATTERN, name):
        raise InvalidInput("a group name is 2 to 64 letters, digits, dots, dashes or underscores")
    if session.scalar(select(UserGroup.id).where(func.lower(UserGroup.name) == name.lower())):
        raise Conflict(f"a group named {name!r} exists already")
    group = UserGroup(name=name)
    session.add(group)
    session.flush()
    return group


def add_to_group(session: Session, group_id: int, username: str) -> UserGroupMember:
    group = get_group(session, group_id)
    username = username.strip()
    if not username:
        raise InvalidInput(f"type the username to add to {group.name!r}")
    user = session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        raise NotFound(f"there is no user named {username!r}")
    if session.get(UserGroupMember, (group.id, user.id)) is not None:
        raise Conflict(f"{user.username!r} is in {group.name!r} already")
    member = UserGroupMember(group_id=group.id, user_id=user.id)
    session.add(member)
    session.flush()
    return member


def remove_from_group(session: Session, group_id: int, user_id: int) -> None:
    group = get_group(session, group_id)
    member = session.get(UserGroupMember, (group.id, user_id))
    if member is None:
        raise NotFound(f"that user is not in {group.name!r} (removed already?)")
    session.delete(member)
    session.flush()
