"""Migrations run from empty on PostgreSQL and SQLite, and match the models."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect

from app.migrate import upgrade
from app.models import Base


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_postgres_schema_from_migrations_matches_the_models(engine: Engine) -> None:
    # The session fixture created the database empty and ran `alembic upgrade head`.
    assert _diff(engine) == []


def test_sqlite_upgrade_from_empty_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    upgrade(url)
    sqlite = create_engine(url)
    try:
        assert set(inspect(sqlite).get_table_names()) >= set(Base.metadata.tables)
        assert _diff(sqlite) == []
    finally:
        sqlite.dispose()


def test_migration_files_have_date_slug_names() -> None:
    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    names = sorted(p.name for p in versions.glob("*.py"))
    assert names

    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{4}_[a-z0-9_]+\.py", n) for n in names), names
