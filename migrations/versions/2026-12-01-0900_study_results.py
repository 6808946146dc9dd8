"""study results: cached agreement reports; studies with simulated labels

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
    with op.batch_alter_table("study") as batch:
        batch.alter_column("simulated_labels", server_default=None)
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


def downgrade() -> None:
    op.drop_table("study_result")
    with op.batch_alter_table("study") as batch:
        batch.drop_column("simulated_labels")
