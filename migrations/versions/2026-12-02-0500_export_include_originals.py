"""export jobs: the full originals in a bundle, on request

Revision ID: a3b5c7d9e1f4
Revises: f2a4b6c8d0e1
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3b5c7d9e1f4"
down_revision: str | None = "f2a4b6c8d0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Exports asked for before bundles existed had no originals to include.
    with op.batch_alter_table("export_job") as batch:
        batch.add_column(
            sa.Column("include_originals", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("export_job") as batch:
        batch.alter_column("include_originals", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("export_job") as batch:
        batch.drop_column("include_originals")
