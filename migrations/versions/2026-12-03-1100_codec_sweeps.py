"""codec sweeps: one request queues one run per value of a parameter

Revision ID: b1c3e5a7d9f2
Revises: b7c1e0f3a9d2
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "b1c3e5a7d9f2"
down_revision: str | None = "b7c1e0f3a9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "codec_sweep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("codec", sa.String(length=100), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_codec_sweep_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["dataset.id"],
            name=op.f("fk_codec_sweep_dataset_id_dataset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codec_sweep")),
    )
    with op.batch_alter_table("codec_sweep", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codec_sweep_dataset_id"), ["dataset_id"], unique=False)
    # Runs queued before sweeps existed belong to none.
    with op.batch_alter_table("codec_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sweep_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_codec_run_sweep_id"), ["sweep_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_codec_run_sweep_id_codec_sweep"),
            "codec_sweep",
            ["sweep_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("codec_run", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_codec_run_sweep_id_codec_sweep"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_codec_run_sweep_id"))
        batch_op.drop_column("sweep_id")
    with op.batch_alter_table("codec_sweep", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codec_sweep_dataset_id"))
    op.drop_table("codec_sweep")
