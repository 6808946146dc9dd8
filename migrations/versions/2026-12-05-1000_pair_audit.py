"""pair audit: the detector's audits of uploaded pairs and of run results (POST /api/audit)

Revision ID: c1d2e3f4a5b7
Revises: b6c7d8e9f0a6
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "c1d2e3f4a5b7"
down_revision: str | None = "b6c7d8e9f0a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pair_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column(
            "result_id",
            sa.Integer(),
            sa.ForeignKey(
                "codec_result.id",
                name=op.f("fk_pair_audit_result_id_codec_result"),
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
        sa.Column("original_key", sa.String(300), nullable=False),
        sa.Column("reconstruction_key", sa.String(300), nullable=False),
        sa.Column("bpp", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_by_id",
            sa.Integer(),
            sa.ForeignKey(
                "user.id", name=op.f("fk_pair_audit_created_by_id_user"), ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_audit")),
    )
    op.create_index("ix_pair_audit_result_id", "pair_audit", ["result_id"])


def downgrade() -> None:
    op.drop_index("ix_pair_audit_result_id", table_name="pair_audit")
    op.drop_table("pair_audit")
