"""`miscomp backup create` / `restore` on the real PostgreSQL: a database with a coded run, a
proposed study and annotations, and its media, restored into a fresh database and an empty
media folder, come back row for row and byte for byte, and a web server on the restored copy
serves them."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecRun
from app.config import get_settings
from app.datasets.models import Dataset, Image
from app.domain.roles import Role
from app.studies.models import Annotation, Study, StudyItem
from tests.conftest import PG_ADMIN_URL, TEST_DB, TEST_DB_URL, database_fingerprint
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.servers import free_port, wait_until_answering
from tests.studies.helpers import annotators, blind_study, finished_run, label_items

RESTORED_DB = f"{TEST_DB}_restored"
RESTORED_URL = TEST_DB_URL.rsplit("/", 1)[0] + f"/{RESTORED_DB}"
SHAPE = {"verdict": "miscompression", "categories": ["shape"], "modifiers": ["symbol"]}


def _admin_sql(statement: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(statement))
    admin.dispose()


@pytest.fixture
def restored_engine() -> Iterator[Engine]:
    """An empty database for the restore, dropped afterwards."""
    _admin_sql(f'DROP DATABASE IF EXISTS "{RESTORED_DB}" WITH (FORCE)')
    _admin_sql(f'CREATE DATABASE "{RESTORED_DB}"')
    engine = create_engine(RESTORED_URL)
    yield engine
    engine.dispose()
    _admin_sql(f'DROP DATABASE IF EXISTS "{RESTORED_DB}" WITH (FORCE)')


def _miscomp(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _files(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _content(engine: Engine) -> tuple[int, int]:
    """A run with results and files, a proposed study, annotations: (run id, study id)."""
    run_id = finished_run(engine)
    study_id = blind_study(engine, run_id)
    with Session(engine) as session:
        items = list(
            session.scalars(
                select(StudyItem.id)
                .where(StudyItem.study_id == study_id, StudyItem.kind == "crop")
                .order_by(StudyItem.position)
            )
        )
        admin = make_user(session, Role.ADMIN, username="restorer")
        session.commit()
        assert admin.id
    raters = annotators(engine, 2)
    label_items(
        engine,
        study_id,
        [
            {"item_id": item, "user_id": rater, "confidence": 4, "late": False, **SHAPE}
            for item in items[:3]
            for rater in raters
        ],
    )
    return run_id, study_id


def test_a_backup_restores_row_for_row_and_byte_for_byte(
    committed_db: Engine, restored_engine: Engine, tmp_path: Path
) -> None:
    run_id, study_id = _content(committed_db)
    media = get_settings().media_root
    backup = tmp_path / "backup"
    made = _miscomp("backup", "create", str(backup))
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in backup.iterdir()) == [
        "database.dump", "manifest.json", "media.tar",
    ]  # fmt: skip

    restored_media = tmp_path / "restored-media"
    into_restored = {
        "MISCOMP_DATABASE_URL": RESTORED_URL,
        "MISCOMP_MEDIA_ROOT": str(restored_media),
    }
    done = _miscomp("backup", "restore", str(backup), **into_restored)
    assert done.returncode == 0, done.stderr

    with Session(committed_db) as original, Session(restored_engine) as restored:
        before = database_fingerprint(original)
        assert database_fingerprint(restored) == before
        assert before["annotation"][0] == 6 and before["codec_result"][0] >= 2
        assert before["study_asset"][0] > 0
        # Identity sequences go on where they were: the next row gets a new id.
        for table in ("annotation", "image", "study_item"):
            assert restored.scalar(
                text(f"SELECT last_value FROM {table}_id_seq")
            ) == original.scalar(text(f"SELECT last_value FROM {table}_id_seq"))
    assert _files(restored_media) == _files(media)
    assert len(_files(media)) > 10

    # Restoring again over what is now there is refused, and changes nothing.
    again = _miscomp("backup", "restore", str(backup), **into_restored)
    assert again.returncode == 1
    assert again.stderr.startswith("error: the database") and "--force" in again.stderr
    with Session(restored_engine) as restored:
        assert database_fingerprint(restored) == before

    _served_from(restored_engine, restored_media, run_id, study_id, into_restored)


def _served_from(
    engine: Engine, media: Path, run_id: int, study_id: int, environment: dict[str, str]
) -> None:
    """A real web server on the restored database and media shows the restored content."""
    with Session(engine) as session:
        study = session.get(Study, study_id)
        run = session.get(CodecRun, run_id)
        assert study is not None and run is not None
        dataset = session.get(Dataset, run.dataset_id)
        assert dataset is not None
        image = session.scalars(select(Image).where(Image.dataset_id == dataset.id)).first()
        assert image is not None
        annotations = session.scalars(
            select(Annotation).where(Annotation.study_id == study_id)
        ).all()
        assert len(annotations) == 6
        names, storage_key = (study.name, dataset.name), image.storage_key
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/healthz", server)
        with httpx.Client(base_url=url, timeout=10) as client:
            token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
            assert token is not None
            login = client.post(
                "/login",
                data={"username": "restorer", "password": DEFAULT_PASSWORD, "csrf_token": token[1]},
            )
            assert login.status_code == 303, login.text
            assert names[1] in client.get(f"/datasets/{run.dataset_id}").text
            page = client.get(f"/studies/{study_id}")
            assert page.status_code == 200 and names[0] in page.text
            pixels = client.get(f"/media/images/{image.id}/pixels.png")
            assert pixels.status_code == 200
            assert pixels.content == (media / storage_key).read_bytes()
    finally:
        os.killpg(server.pid, 2)
        server.wait(timeout=30)


def test_a_damaged_backup_or_another_database_kind_is_refused(
    committed_db: Engine, restored_engine: Engine, tmp_path: Path
) -> None:
    finished_run(committed_db)
    backup = tmp_path / "backup"
    assert _miscomp("backup", "create", str(backup)).returncode == 0
    refused = _miscomp("backup", "create", str(backup))  # not an empty folder
    assert refused.returncode == 1 and "not an empty folder" in refused.stderr

    tar = backup / "media.tar"
    damaged = bytearray(tar.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    tar.write_bytes(bytes(damaged))
    restored_media = tmp_path / "restored-media"
    broken = _miscomp(
        "backup",
        "restore",
        str(backup),
        MISCOMP_DATABASE_URL=RESTORED_URL,
        MISCOMP_MEDIA_ROOT=str(restored_media),
    )
    assert broken.returncode == 1
    assert "media.tar is missing or changed since the backup" in broken.stderr
    with restored_engine.connect() as connection:
        assert (
            connection.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
            == 0
        )
    assert not restored_media.exists()

    sqlite = _miscomp(
        "backup",
        "create",
        str(tmp_path / "sqlite-backup"),
        MISCOMP_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite'}",
    )
    assert sqlite.returncode == 1 and "backups need PostgreSQL" in sqlite.stderr

    # Media in a bucket: the media folder holds no images, so a backup of it is refused.
    in_bucket = tmp_path / "bucket-backup"
    bucket = _miscomp("backup", "create", str(in_bucket), MISCOMP_MEDIA_URL="s3://media/x")
    assert bucket.returncode == 1 and "--no-media" in bucket.stderr
    assert not in_bucket.exists() or not any(in_bucket.iterdir())
