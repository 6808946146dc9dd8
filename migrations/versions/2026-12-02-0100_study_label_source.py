"""who labels a study: people or simulated raters (replaces the demo's simulated_labels flag)

Revision ID: d7e9f1a3b5c6
Revises: c5d7e9f1a2b3
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7e9f1a3b5c6"
down_revision: str | None = "c5d7e9f1a2b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEMO_SIMULATION = {"raters": 3, "error_rate": 0.15, "seed": 0}
"""The only studies with simulated labels so far are the demo's, whose three simulated raters
kept each item's latent answer with probability 0.85, seeded 0."""

study = sa.table(
    "study",
    sa.column("simulated_labels", sa.Boolean()),
    sa.column("label_source", sa.String()),
    sa.column("simulation", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.add_column(
            sa.Column("label_source", sa.String(length=16), nullable=False, server_default="people")
        )
        batch.add_column(sa.Column("simulation", sa.JSON(), nullable=True))
    op.execute(
        study.update()
        .where(study.c.simulated_labels.is_(True))
        .values(label_source="simulated", simulation=DEMO_SIMULATION)
    )
    with op.batch_alter_table("study") as batch:
        batch.alter_column("label_source", server_default=None)
        batch.drop_column("simulated_labels")


def downgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.add_column(
            sa.Column("simulated_labels", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        study.update().where(study.c.label_source == "simulated").values(simulated_labels=True)
    )
    with op.batch_alter_table("study") as batch:
        batch.alter_column("simulated_labels", server_default=None)
        batch.drop_column("simulation")
        batch.drop_column("label_source")
