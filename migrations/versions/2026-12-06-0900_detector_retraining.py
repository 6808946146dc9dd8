"""detector retraining: detectors retrained on a study's labels (by the CLI, or as a job a
worker runs), with precision at k before and after on the study's held-out items

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
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("done_steps", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "requested_by_id",
            sa.Integer(),
            sa.ForeignKey(
                "user.id",
                name=op.f("fk_detector_retraining_requested_by_id_user"),
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
        sa.Column("model_name", sa.String(200), nullable=True),
        sa.Column("model_sha256", sa.String(64), nullable=True),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("weights_key", sa.String(300), nullable=True),
        sa.Column("base_name", sa.String(200), nullable=True),
        sa.Column("base_sha256", sa.String(64), nullable=True),
        sa.Column("trained_items", sa.Integer(), nullable=True),
        sa.Column("split", sa.String(16), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detector_retraining")),
    )
    op.create_index("ix_detector_retraining_study_id", "detector_retraining", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_detector_retraining_study_id", table_name="detector_retraining")
    op.drop_table("detector_retraining")
