"""A study's bundle imported into an empty instance gives the same records back, and a
corrupt or hostile bundle is refused without changing anything."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import make_engine
from app.domain.exports import bundle_layout as layout
from app.errors import InvalidInput
from app.exports.bundle import export_bundle
from app.exports.bundle_import import import_bundle
from app.exports.bundle_reader import opened_bundle
from app.exports.records import ExportOptions, count_records
from app.migrate import upgrade
from app.storage import LocalMediaStorage
from app.studies.models import Annotation, Assignment, Study, StudyAsset, StudyItem
from app.users.models import User
from tests.conftest import PG_ADMIN_URL, TEST_DB
from tests.exports.helpers import jsonl_records

ROUND_TRIP_DB = f"{TEST_DB}_roundtrip"

REMAPPED = {
    ("study", "id"): "study",
    ("item", "id"): "item",
    ("image", "id"): "image",
    ("codec", "run_id"): "run",
    ("codec", "result_id"): "result",
    ("label", "annotation_id"): "annotation",
}
"""The fields whose values an import changes (new rows, new ids), by the id they hold;
``study.run_ids`` and ``study.versus_run_id`` hold run ids too."""


def _admin(statement: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": ROUND_TRIP_DB},
        )
        conn.execute(text(statement))
    admin.dispose()


@pytest.fixture
def empty_instance(tmp_path: Path) -> Iterator[tuple[Engine, LocalMediaStorage]]:
    """A second, empty, migrated database with a media root of its own."""
    _admin(f'DROP DATABASE IF EXISTS "{ROUND_TRIP_DB}"')
    _admin(f'CREATE DATABASE "{ROUND_TRIP_DB}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{ROUND_TRIP_DB}"
    upgrade(url)
    engine = make_engine(url)
    yield engine, LocalMediaStorage(tmp_path / "media-roundtrip")
    engine.dispose()
    _admin(f'DROP DATABASE IF EXISTS "{ROUND_TRIP_DB}"')


def _bundle(engine: Engine, study_id: int, out: Path, *, originals: bool = True) -> Path:
    with Session(engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        storage = LocalMediaStorage(get_settings().media_root)
        export_bundle(session, storage, study, out, include_originals=originals)
    return out


def _import(engine: Engine, storage: LocalMediaStorage, bundle: Path) -> int:
    settings = get_settings()
    with opened_bundle(settings, bundle) as contents, Session(engine) as session:
        session.info["actor_label"] = "import"
        study = import_bundle(session, storage, settings, contents)
        session.commit()
        return study.id


def _remapped(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> dict[str, dict[Any, Any]]:
    """Old id -> new id for each kind, checked to be one-to-one."""
    mapping: dict[str, dict[Any, Any]] = {kind: {} for kind in REMAPPED.values()}
    for old, new in zip(before, after, strict=True):
        pairs = [(kind, old[s].get(f), new[s].get(f)) for (s, f), kind in REMAPPED.items()]
        pairs += [
            ("run", o, n)
            for o, n in zip(old["study"]["run_ids"], new["study"]["run_ids"], strict=True)
        ]
        for kind, old_id, new_id in pairs:
            assert mapping[kind].setdefault(old_id, new_id) == new_id, (kind, old_id)
    for kind, ids in mapping.items():
        assert len(set(ids.values())) == len(ids), f"two {kind}s became one"
    return mapping


def _without_ids(record: dict[str, Any]) -> dict[str, Any]:
    copy = {section: dict(value) for section, value in record.items()}
    for section, field in REMAPPED:
        copy[section].pop(field, None)
    copy["study"].pop("run_ids")
    return copy


def test_a_bundle_imported_into_an_empty_instance_exports_the_same_records(
    labelled_study: dict[str, Any],
    empty_instance: tuple[Engine, LocalMediaStorage],
    tmp_path: Path,
    committed_db: Engine,
) -> None:
    engine, storage = empty_instance
    study_id = labelled_study["study_id"]
    bundle = _bundle(committed_db, study_id, tmp_path / "study.zip")

    new_id = _import(engine, storage, bundle)

    before = jsonl_records(committed_db, study_id, all_revisions=True)
    after = jsonl_records(engine, new_id, all_revisions=True)
    assert len(after) == len(before) > 0
    assert any(not r["label"]["current"] for r in after)  # the revisions came too
    mapping = _remapped(before, after)
    assert mapping["study"] == {study_id: new_id}
    assert [_without_ids(r) for r in after] == [_without_ids(r) for r in before]
    assert {r["codec"]["name"] for r in after if r["codec"]} == {"jpeg"}
    with Session(engine) as session:
        items = session.scalars(select(StudyItem).where(StudyItem.study_id == new_id)).all()
        leases = session.scalars(select(Assignment).where(Assignment.study_id == new_id)).all()
        for item in items:
            mine = [lease.status for lease in leases if lease.item_id == item.id]
            assert item.active_count == sum(s in ("leased", "done") for s in mine)
            assert item.done_count == mine.count("done")
            assert item.assets and all(storage.exists(key) for key in _keys(session, item))
        raters = session.scalars(select(User).where(User.id.in_({x.user_id for x in leases})))
        assert all(not user.is_active for user in raters)
    # And the imported study's own bundle imports again (under another name).
    again = _bundle(engine, new_id, tmp_path / "again.zip")
    with opened_bundle(get_settings(), again) as contents, Session(engine) as session:
        copy = import_bundle(session, storage, get_settings(), contents, name="copy")
        session.flush()
        assert _record_count(session, copy.id) == len(before)
        session.rollback()


def _keys(session: Session, item: StudyItem) -> list[str]:
    tokens = list(item.assets.values())
    return list(session.scalars(select(StudyAsset.storage_key).where(StudyAsset.token.in_(tokens))))


def _record_count(session: Session, study_id: int) -> int:

    study = session.get(Study, study_id)
    assert study is not None
    return count_records(session, study, ExportOptions(all_revisions=True))


def _rewritten(source: Path, out: Path, change: Any) -> Path:
    """A copy of the bundle with its members changed by ``change(name, data)`` (None drops
    a member; a dict adds members)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            data = change(info.filename, old.read(info))
            if data is not None:
                new.writestr(info.filename, data)
    return out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", f"{layout.ITEMS}: missing"),
        ("traversal", "path traversal"),
        ("not json", f"{layout.STUDY} is not JSON"),
        ("no originals", "export the study with --originals"),
        ("wrong value", "bundle refused"),
    ],
)
def test_a_corrupt_or_hostile_bundle_is_refused_and_changes_nothing(
    blind_labelled_study: dict[str, Any],
    empty_instance: tuple[Engine, LocalMediaStorage],
    tmp_path: Path,
    committed_db: Engine,
    case: str,
    message: str,
) -> None:
    engine, storage = empty_instance
    originals = case != "no originals"
    bundle = _bundle(
        committed_db, blind_labelled_study["study_id"], tmp_path / "study.zip", originals=originals
    )

    def change(name: str, data: bytes) -> bytes | None:
        if case == "missing" and name == layout.ITEMS:
            return None
        if case == "not json" and name == layout.STUDY:
            return b"{not json"
        if case == "wrong value" and name == layout.LEASES:
            return data.replace(b'"leased_at": "', b'"leased_at": "not a time ', 1)
        return data

    hostile = _rewritten(bundle, tmp_path / "hostile.zip", change)
    if case == "traversal":
        with zipfile.ZipFile(hostile, "a") as archive:
            archive.writestr("../escaped.txt", b"x")
    with pytest.raises(InvalidInput, match=message):
        _import(engine, storage, hostile)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 0
        assert session.scalar(select(func.count()).select_from(User)) == 0
    assert not (tmp_path / "escaped.txt").exists()


def test_the_command_imports_a_bundle_under_a_new_name(
    blind_labelled_study: dict[str, Any], committed_db: Engine, tmp_path: Path
) -> None:
    """``miscomp studies import`` into this instance: the study's name is taken, so the
    command refuses it, then imports under ``--name``, reusing the datasets it finds."""
    from typer.testing import CliRunner

    from app import cli

    bundle = _bundle(committed_db, blind_labelled_study["study_id"], tmp_path / "study.zip")
    taken = CliRunner().invoke(cli.app, ["studies", "import", str(bundle)])
    assert taken.exit_code == 1 and "--name" in taken.output, taken.output
    made = CliRunner().invoke(cli.app, ["studies", "import", str(bundle), "--name", "cli copy"])
    assert made.exit_code == 0, made.output
    new_id = int(made.output.strip().rsplit(" ", 1)[1])
    with Session(committed_db) as session:
        copy = session.get(Study, new_id)
        original = session.get(Study, blind_labelled_study["study_id"])
        assert copy is not None and original is not None and copy.name == "cli copy"
        counts = [
            session.scalar(select(func.count()).where(Annotation.study_id == s.id))
            for s in (original, copy)
        ]
    assert counts[0] == counts[1] > 0
