"""Staged uploads that no import will read (a web process killed between putting them and
committing their import) are deleted by age, on the local folder and in a bucket alike; those
of an import that has not ended are kept however old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.config import Settings
from app.datasets import importer
from app.datasets.models import ImportJob
from app.storage import artefact_key, media_storage
from app.uploads import ABANDONED_STAGING_AGE
from tests.factories import make_dataset
from tests.test_storage import _settings


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    server = request.getfixturevalue("s3_server") if request.param == "s3" else None
    return _settings(request.param, tmp_path, server)


def test_abandoned_staging_goes_by_age_and_unfinished_imports_keep_theirs(
    settings: Settings, db: Session
) -> None:
    storage = media_storage(settings)
    dataset = make_dataset(db, "staging-by-age")
    for status, prefix in (("queued", "staging/waiting"), ("done", "staging/ended")):
        db.add(
            ImportJob(
                dataset_id=dataset.id,
                status=status,
                source_kind="upload",
                staging_prefix=prefix,
                uploads=[{"name": "a.png", "key": f"{prefix}/00000-a.png"}],
            )
        )
    db.flush()
    staged = {
        "staging/waiting/00000-a.png",
        "staging/ended/00000-a.png",
        "staging/orphan/00000-c.png",
        "staging/orphan/00001-d.zip",
    }
    image = artefact_key("images", b"an imported image", ".png")
    for key in (*staged, image):
        storage.put(key, key.encode())
    now = datetime.now(UTC)

    assert importer.discard_abandoned_uploads(db, storage, now=now) == 0
    almost = now + ABANDONED_STAGING_AGE - timedelta(minutes=5)
    assert importer.discard_abandoned_uploads(db, storage, now=almost) == 0
    assert {o.key for o in storage.objects_under("staging")} == staged

    later = now + ABANDONED_STAGING_AGE + timedelta(minutes=5)
    assert importer.discard_abandoned_uploads(db, storage, now=later) == 3
    assert {o.key for o in storage.objects_under("staging")} == {"staging/waiting/00000-a.png"}
    assert storage.read(image) == image.encode()
