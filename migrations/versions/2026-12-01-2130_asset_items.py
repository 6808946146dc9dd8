"""study assets know their item: crops are served only to the item's raters

Revision ID: 9e3a6f1c2b74
Revises: 7c2d9e4b1a30
Create Date: 2026-12-01 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e3a6f1c2b74"
down_revision: str | None = "7c2d9e4b1a30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study_asset") as batch:
        batch.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch.create_index("ix_study_asset_item_id", ["item_id"])
        batch.create_foreign_key(
            "fk_study_asset_item_id_study_item",
            "study_item",
            ["item_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # Assets rendered before this revision: their item is the one whose pane map names them.
    connection = op.get_bind()
    items = sa.table("study_item", sa.column("id", sa.Integer), sa.column("assets", sa.JSON))
    assets = sa.table(
        "study_asset", sa.column("token", sa.String), sa.column("item_id", sa.Integer)
    )
    for item_id, tokens in connection.execute(sa.select(items.c.id, items.c.assets)):
        for token in (tokens or {}).values():
            connection.execute(
                assets.update().where(assets.c.token == token).values(item_id=item_id)
            )


def downgrade() -> None:
    with op.batch_alter_table("study_asset") as batch:
        batch.drop_constraint("fk_study_asset_item_id_study_item", type_="foreignkey")
        batch.drop_index("ix_study_asset_item_id")
        batch.drop_column("item_id")
