"""API tokens with a scope: full (what the owner's role allows) or read-only

Revision ID: e1f3a5c7d9b2
Revises: d8e2f4a6b1c3
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e1f3a5c7d9b2"
down_revision: str | None = "d8e2f4a6b1c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(
            sa.Column(
                "scope",
                sa.Enum("full", "read", name="token_scope", native_enum=False, length=8),
                nullable=False,
                server_default="full",
            )
        )
    with op.batch_alter_table("api_token") as batch:
        batch.alter_column("scope", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("scope")
