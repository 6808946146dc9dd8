"""study results: cached agreement reports, adjudications; studies with simulated labels

Revision ID: 7c2d9e4b1a30
Revises: 5a1e0c3f7b21
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "7c2d9e4b1a30"
down_revision: str | None = "5a1e0c3f7b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.add_column(
            sa.Column("simulated_labels", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("region_iou", sa.Float(), nullable=False, server_default="0.5"))
    with op.batch_alter_table("study") as batch:
        batch.alter_column("simulated_labels", server_default=None)
        batch.alter_column("region_iou", server_default=None)
    op.create_table(
        "study_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("wanted", sa.String(length=64), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("computed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_study_result_study_id_study"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_result")),
        sa.UniqueConstraint("study_id", name=op.f("uq_study_result_study_id")),
    )  # fmt: skip

    op.create_table(
        "adjudication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("modifiers", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("adjudicator_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_adjudication_study_id_study"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["study_item.id"], name=op.f("fk_adjudication_item_id_study_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["adjudicator_id"], ["user.id"], name=op.f("fk_adjudication_adjudicator_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjudication")),
        sa.UniqueConstraint("item_id", name=op.f("uq_adjudication_item_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_adjudication_study_id"), "adjudication", ["study_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_adjudication_study_id"), table_name="adjudication")
    op.drop_table("adjudication")
    op.drop_table("study_result")
    with op.batch_alter_table("study") as batch:
        batch.drop_column("region_iou")
        batch.drop_column("simulated_labels")
