"""workspace labels: descriptions, confidence, panes seen in, boxes

Revision ID: 5a1e0c3f7b21
Revises: 0fc9e9fa89db
Create Date: 2026-12-01 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5a1e0c3f7b21"
down_revision: str | None = "0fc9e9fa89db"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("annotation", "annotation_revision")


def upgrade() -> None:
    # Existing annotations get empty descriptions, no confidence, no panes and no boxes.
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("original_shows", sa.Text(), nullable=False, server_default="")
            )
            batch.add_column(
                sa.Column("compressed_shows", sa.Text(), nullable=False, server_default="")
            )
            batch.add_column(sa.Column("confidence", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("seen_in", sa.JSON(), nullable=False, server_default="[]"))
            batch.add_column(sa.Column("boxes", sa.JSON(), nullable=False, server_default="[]"))
        with op.batch_alter_table(table) as batch:
            for column in ("original_shows", "compressed_shows", "seen_in", "boxes"):
                batch.alter_column(column, server_default=None)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in ("boxes", "seen_in", "confidence", "compressed_shows"):
                batch.drop_column(column)
            batch.drop_column("original_shows")
