"""studies keep the parameters of their proposal methods

Revision ID: f2a4b6c8d0e1
Revises: e1f3a5c7d9b2
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2a4b6c8d0e1"
down_revision: str | None = "e1f3a5c7d9b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Studies made before proposed with every method's defaults: an empty mapping says so.
    with op.batch_alter_table("study") as batch:
        batch.add_column(
            sa.Column("method_params", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("study") as batch:
        batch.alter_column("method_params", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.drop_column("method_params")
