"""import staging keys: uploads staged in the media storage, named by key, not by local path

``import_job.staging_dir`` (a folder under the web's media root) becomes ``staging_prefix``
(``staging/<batch>``, a media storage key), and each upload's ``path`` a ``key`` under it. The
media root's layout is the same (``staging/<batch>/<n>-<name>``), so an import queued before
the upgrade on a local media folder is still found where it was staged.

Revision ID: b6c7d8e9f0a6
Revises: b2c3d4e5f6a2
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "b6c7d8e9f0a6"
down_revision: str | None = "b2c3d4e5f6a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

import_job = sa.table(
    "import_job",
    sa.column("id", sa.Integer),
    sa.column("staging_prefix", sa.Text),
    sa.column("uploads", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("import_job") as batch:
        batch.alter_column("staging_dir", new_column_name="staging_prefix")
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(import_job.c.id, import_job.c.staging_prefix, import_job.c.uploads).where(
            import_job.c.staging_prefix.is_not(None)
        )
    ).all()
    for job_id, staging_dir, uploads in rows:
        prefix = f"staging/{PurePath(staging_dir).name}"
        keyed: list[dict[str, Any]] = [
            {"name": upload["name"], "key": f"{prefix}/{PurePath(upload['path']).name}"}
            for upload in uploads
        ]
        connection.execute(
            import_job.update()
            .where(import_job.c.id == job_id)
            .values(staging_prefix=prefix, uploads=keyed)
        )


def downgrade() -> None:
    # The keys become paths relative to the media root: an import still queued at the
    # downgrade would not find its files; upload them again.
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(import_job.c.id, import_job.c.uploads).where(
            import_job.c.staging_prefix.is_not(None)
        )
    ).all()
    for job_id, uploads in rows:
        connection.execute(
            import_job.update()
            .where(import_job.c.id == job_id)
            .values(uploads=[{"name": u["name"], "path": u["key"]} for u in uploads])
        )
    with op.batch_alter_table("import_job") as batch:
        batch.alter_column("staging_prefix", new_column_name="staging_dir")
