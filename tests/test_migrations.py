"""Migrations run from empty on PostgreSQL and SQLite, and match the models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, Table, create_engine, inspect, select, text

from app.migrate import alembic_config, upgrade
from app.models import Base
from tests.conftest import PG_ADMIN_URL, TEST_DB


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


BEFORE_LABEL_SOURCE = "c5d7e9f1a2b3"
"""The revision whose studies still had the demo's ``simulated_labels`` flag."""


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of each kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite'}"
        return
    name = f"{TEST_DB}_migration"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _studies(engine: Engine, *columns: str) -> list[tuple[object, ...]]:
    study = Table("study", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(select(*(study.c[c] for c in columns)).order_by(study.c.name))
        return [tuple(row) for row in rows]


def test_the_label_source_keeps_which_studies_are_simulated_up_and_down(
    empty_database: str,
) -> None:
    upgrade(empty_database, BEFORE_LABEL_SOURCE)
    engine = create_engine(empty_database)
    try:
        tables = MetaData()
        tables.reflect(engine, only=["taxonomy_version", "study"])
        now = datetime.now(UTC)
        with engine.begin() as conn:
            (taxonomy_id,) = conn.execute(
                tables.tables["taxonomy_version"]
                .insert()
                .values(name="t", version=1, categories=[], verdicts=[], created_at=now)
                .returning(tables.tables["taxonomy_version"].c.id)
            ).one()
            common = {
                "instructions": "", "status": "open", "run_ids": [], "crop_sizes": [64],
                "methods": ["random"], "items_target": 1, "quotas": {"random": 1.0},
                "planted_controls": False, "raters_per_item": 3, "lease_s": 900, "blind": True,
                "panes": ["original"], "seed": 0, "taxonomy_version_id": taxonomy_id,
                "created_at": now, "region_iou": 0.5, "proposal_report": {},
            }  # fmt: skip
            conn.execute(
                tables.tables["study"].insert(),
                [
                    {**common, "name": "by-people", "simulated_labels": False},
                    {**common, "name": "demo-simulated", "simulated_labels": True},
                ],
            )
        upgrade(empty_database)
        assert _studies(engine, "name", "label_source", "simulation") == [
            ("by-people", "people", None),
            ("demo-simulated", "simulated", {"raters": 3, "error_rate": 0.15, "seed": 0}),
        ]
        command.downgrade(alembic_config(empty_database), BEFORE_LABEL_SOURCE)
        assert _studies(engine, "name", "simulated_labels") == [
            ("by-people", False),
            ("demo-simulated", True),
        ]
        assert "label_source" not in {c["name"] for c in inspect(engine).get_columns("study")}
    finally:
        engine.dispose()


BEFORE_MEMBERSHIP = "a3b5c7d9e1f4"


def test_studies_made_before_membership_stay_open_to_every_annotator(
    empty_database: str,
) -> None:
    upgrade(empty_database, BEFORE_MEMBERSHIP)
    engine = create_engine(empty_database)
    try:
        tables = MetaData()
        tables.reflect(engine, only=["taxonomy_version", "study"])
        now = datetime.now(UTC)
        with engine.begin() as conn:
            (taxonomy_id,) = conn.execute(
                tables.tables["taxonomy_version"]
                .insert()
                .values(name="t", version=1, categories=[], verdicts=[], created_at=now)
                .returning(tables.tables["taxonomy_version"].c.id)
            ).one()
            conn.execute(
                tables.tables["study"].insert(),
                [
                    {
                        "name": "older", "instructions": "", "status": "open", "run_ids": [],
                        "crop_sizes": [64], "methods": ["random"], "items_target": 1,
                        "quotas": {"random": 1.0}, "planted_controls": False,
                        "raters_per_item": 3, "lease_s": 900, "blind": True,
                        "panes": ["original"], "seed": 0, "taxonomy_version_id": taxonomy_id,
                        "created_at": now, "region_iou": 0.5, "proposal_report": {},
                        "label_source": "people", "method_params": {},
                    }
                ],
            )  # fmt: skip
        upgrade(empty_database)
        assert _studies(engine, "name", "members_only") == [("older", False)]
        command.downgrade(alembic_config(empty_database), BEFORE_MEMBERSHIP)
        assert "members_only" not in {c["name"] for c in inspect(engine).get_columns("study")}
        assert "study_member" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


BEFORE_STAGING_KEYS = "b2c3d4e5f6a2"
"""The revision whose upload imports named a local staging folder and local paths."""


def test_uploads_queued_before_staging_keys_are_found_under_their_keys(
    empty_database: str,
) -> None:
    """A queued upload's local paths become the media storage keys of the same files (the
    local media root keeps them at ``staging/<batch>/<file>``)."""
    upgrade(empty_database, BEFORE_STAGING_KEYS)
    engine = create_engine(empty_database)
    try:
        tables = MetaData()
        tables.reflect(engine, only=["dataset", "import_job"])
        now = datetime.now(UTC)
        staged = "/srv/miscomp/media/staging/0123abcd"
        with engine.begin() as conn:
            (dataset_id,) = conn.execute(
                tables.tables["dataset"]
                .insert()
                .values(name="d", description="", source="", license="", created_at=now)
                .returning(tables.tables["dataset"].c.id)
            ).one()
            common = {
                "dataset_id": dataset_id, "status": "queued", "total": 0, "processed": 0,
                "n_imported": 0, "n_duplicate": 0, "n_failed": 0, "n_skipped": 0,
                "created_at": now,
            }  # fmt: skip
            conn.execute(
                tables.tables["import_job"].insert(),
                [
                    {
                        **common, "source_kind": "upload", "source_label": "a.png, b.zip",
                        "staging_dir": staged,
                        "uploads": [
                            {"name": "a.png", "path": f"{staged}/00000-a.png"},
                            {"name": "x/b.zip", "path": f"{staged}/00001-b.zip"},
                        ],
                    },
                    {
                        **common, "source_kind": "folder", "source_label": "/data",
                        "staging_dir": None, "uploads": [],
                    },
                ],
            )  # fmt: skip
        upgrade(empty_database)
        job = Table("import_job", MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = conn.execute(
                select(job.c.source_kind, job.c.staging_prefix, job.c.uploads).order_by(job.c.id)
            ).all()
        assert [tuple(row) for row in rows] == [
            (
                "upload",
                "staging/0123abcd",
                [
                    {"name": "a.png", "key": "staging/0123abcd/00000-a.png"},
                    {"name": "x/b.zip", "key": "staging/0123abcd/00001-b.zip"},
                ],
            ),
            ("folder", None, []),
        ]
        command.downgrade(alembic_config(empty_database), BEFORE_STAGING_KEYS)
        columns = {c["name"] for c in inspect(engine).get_columns("import_job")}
        assert "staging_dir" in columns and "staging_prefix" not in columns
    finally:
        engine.dispose()
