"""study qualification: a round of control items with feedback before a rater's real items

Revision ID: e4f6a8c0b2d5
Revises: b1c3e5a7d9f2
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "e4f6a8c0b2d5"
down_revision: str | None = "b1c3e5a7d9f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Studies made before the qualification round have none, as before.
    with op.batch_alter_table("study") as batch:
        batch.add_column(
            sa.Column("qualification_items", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("qualification_pass", sa.Float(), nullable=False, server_default="0.8")
        )
    with op.batch_alter_table("study") as batch:
        batch.alter_column("qualification_items", server_default=None)
        batch.alter_column("qualification_pass", server_default=None)
    op.create_table(
        "qualification_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("answered_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reset_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["study_item.id"],
            name=op.f("fk_qualification_answer_item_id_study_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
            name=op.f("fk_qualification_answer_study_id_study"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_qualification_answer_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_answer")),
        sa.UniqueConstraint(
            "study_id",
            "user_id",
            "attempt",
            "number",
            name=op.f("uq_qualification_answer_study_id_user_id_attempt_number"),
        ),
    )
    with op.batch_alter_table("qualification_answer", schema=None) as batch_op:
        batch_op.create_index(
            "ix_qualification_answer_study_user", ["study_id", "user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("qualification_answer", schema=None) as batch_op:
        batch_op.drop_index("ix_qualification_answer_study_user")
    op.drop_table("qualification_answer")
    with op.batch_alter_table("study") as batch:
        batch.drop_column("qualification_pass")
        batch.drop_column("qualification_items")
