"""Who may annotate a study: every annotator (the default), or only its members, the users
and groups a researcher lists on the study page. The rule itself is ``queries.open_to``;
this module edits the list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.errors import Conflict, InvalidInput, NotFound
from app.studies.models import Study, StudyMember
from app.users.models import User, UserGroup, UserGroupMember

MemberKind = Literal["user", "group"]


@dataclass(frozen=True)
class Member:
    """A row of the study page's member list."""

    id: int
    kind: MemberKind
    name: str
    size: int | None
    """A group's number of users (None for a user)."""


def members(session: Session, study: Study) -> list[Member]:
    """The study's listed users and groups, users first, each by name."""
    users = session.execute(
        select(StudyMember.id, User.username)
        .join(User, User.id == StudyMember.user_id)
        .where(StudyMember.study_id == study.id)
        .order_by(User.username)
    ).all()
    sizes = (
        select(UserGroupMember.group_id, func.count().label("n"))
        .group_by(UserGroupMember.group_id)
        .subquery()
    )
    groups = session.execute(
        select(StudyMember.id, UserGroup.name, func.coalesce(sizes.c.n, 0))
        .join(UserGroup, UserGroup.id == StudyMember.group_id)
        .outerjoin(sizes, sizes.c.group_id == UserGroup.id)
        .where(StudyMember.study_id == study.id)
        .order_by(UserGroup.name)
    ).all()
    return [Member(i, "user", name, None) for i, name in users] + [
        Member(i, "group", name, int(size)) for i, name, size in groups
    ]


def set_members_only(session: Session, study: Study, members_only: bool) -> Study:
    """Open the study to every annotator, or to its members alone. The list is kept either
    way, so that switching back restores it."""
    study.members_only = members_only
    session.flush()
    return study


def add_member(
    session: Session, study: Study, kind: MemberKind, name: str, *, actor: User | None
) -> StudyMember:
    """List a user (an annotator) or a group by name; InvalidInput, NotFound or Conflict in
    plain words for an empty name, an unknown one, a user who is not an annotator, or one
    listed already."""
    name = name.strip()
    if not name:
        raise InvalidInput(f"type the name of the {kind} to add")
    member = StudyMember(study_id=study.id, added_by_id=actor.id if actor else None)
    if kind == "user":
        user = session.scalar(select(User).where(func.lower(User.username) == name.lower()))
        if user is None:
            raise NotFound(f"there is no user named {name!r}")
        if user.role != Role.ANNOTATOR:
            raise InvalidInput(
                f"{user.username!r} is a {user.role.value}, not an annotator: only annotators label"
            )
        taken = StudyMember.user_id == user.id
        member.user_id = user.id
        shown = f"user {user.username!r}"
    else:
        group = session.scalar(select(UserGroup).where(func.lower(UserGroup.name) == name.lower()))
        if group is None:
            raise NotFound(f"there is no group named {name!r} (an admin makes groups)")
        taken = StudyMember.group_id == group.id
        member.group_id = group.id
        shown = f"group {group.name!r}"
    if session.scalar(select(StudyMember.id).where(StudyMember.study_id == study.id, taken)):
        raise Conflict(f"{shown} is a member of this study already")
    session.add(member)
    session.flush()
    return member


def remove_member(session: Session, study: Study, member_id: int) -> None:
    """Take a user or group off the list. Their finished annotations stay; a lease they hold
    expires as any other."""
    member = session.get(StudyMember, member_id)
    if member is None or member.study_id != study.id:
        raise NotFound("that member is not on this study's list (removed already?)")
    session.delete(member)
    session.flush()
