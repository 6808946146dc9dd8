"""studies that set two codecs against each other: the second run's reconstruction as a pane

Revision ID: c5d7e9f1a2b3
Revises: 4b8d2e6f0a15
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5d7e9f1a2b3"
down_revision: str | None = "4b8d2e6f0a15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.add_column(sa.Column("versus_run_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_study_versus_run_id_codec_run",
            "codec_run",
            ["versus_run_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.drop_constraint("fk_study_versus_run_id_codec_run", type_="foreignkey")
        batch.drop_column("versus_run_id")
