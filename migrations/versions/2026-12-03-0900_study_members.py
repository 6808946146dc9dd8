"""study membership: user groups, the users and groups who may annotate a members-only study

Revision ID: d3e5a7c9f1b4
Revises: a3b5c7d9e1f4
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "d3e5a7c9f1b4"
down_revision: str | None = "a3b5c7d9e1f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_group")),
        sa.UniqueConstraint("name", name=op.f("uq_user_group_name")),
    )
    op.create_table(
        "user_group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_group.id"],
            name=op.f("fk_user_group_member_group_id_user_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_user_group_member_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_user_group_member")),
    )
    with op.batch_alter_table("user_group_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_group_member_user_id"), ["user_id"], unique=False)
    op.create_table(
        "study_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (group_id IS NULL)", name=op.f("ck_study_member_user_or_group")
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["user.id"],
            name=op.f("fk_study_member_added_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["user_group.id"],
            name=op.f("fk_study_member_group_id_user_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
            name=op.f("fk_study_member_study_id_study"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_study_member_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_member")),
        sa.UniqueConstraint("study_id", "group_id", name=op.f("uq_study_member_study_id_group_id")),
        sa.UniqueConstraint("study_id", "user_id", name=op.f("uq_study_member_study_id_user_id")),
    )
    with op.batch_alter_table("study_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_member_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_study_member_user_id"), ["user_id"], unique=False)
    # Studies made before membership stay open to every annotator, as they were.
    with op.batch_alter_table("study") as batch:
        batch.add_column(
            sa.Column("members_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("study") as batch:
        batch.alter_column("members_only", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.drop_column("members_only")
    with op.batch_alter_table("study_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_member_user_id"))
        batch_op.drop_index(batch_op.f("ix_study_member_group_id"))
    op.drop_table("study_member")
    with op.batch_alter_table("user_group_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_group_member_user_id"))
    op.drop_table("user_group_member")
    op.drop_table("user_group")
