"""detector retraining: detectors retrained on a study's labels, with precision at k before
and after on the study's held-out items

Revision ID: d2e3f4a5b6c8
Revises: c1d2e3f4a5b7
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "d2e3f4a5b6c8"
down_revision: str | None = "c1d2e3f4a5b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "detector_retraining",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "study_id",
            sa.Integer(),
            sa.ForeignKey(
                "study.id", name=op.f("fk_detector_retraining_study_id_study"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
        sa.Column("model_path", sa.Text(), nullable=False),
        sa.Column("base_name", sa.String(200), nullable=False),
        sa.Column("base_sha256", sa.String(64), nullable=False),
        sa.Column("trained_items", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(16), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detector_retraining")),
    )
    op.create_index("ix_detector_retraining_study_id", "detector_retraining", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_detector_retraining_study_id", table_name="detector_retraining")
    op.drop_table("detector_retraining")
