"""A blind study whose crops live in an S3 bucket: the annotator's browser gets the same
opaque URLs under the same headers as from the local folder, served through the web (never
a bucket URL, which would carry the crop's content address), with the right bytes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.domain.roles import Role
from app.storage import media_storage
from app.studies.models import StudyAsset
from tests.conftest import login
from tests.factories import make_user
from tests.s3 import S3Media
from tests.studies.helpers import blind_study, finished_run
from tests.studies.test_blinding_transport import PNG_HEADER_BYTES, SIGNED_URL, _walk

ANSWER_HEADERS = {"content-type", "content-length", "cache-control"}
"""What a crop's answer says besides the security headers every response carries."""


def test_blind_crops_from_a_bucket_keep_their_opaque_urls_and_bytes(
    s3_media: S3Media, committed_db: Engine, committed_client: TestClient
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db), items=6)
    storage = media_storage(s3_media.settings)
    with Session(committed_db, expire_on_commit=False) as session:
        annotator = make_user(session, Role.ANNOTATOR)
        session.commit()
        stored = {
            asset.token: asset.storage_key
            for asset in session.scalars(select(StudyAsset).where(StudyAsset.study_id == study_id))
        }
    in_bucket = {key.removeprefix(s3_media.prefix) for key in s3_media.server.keys(s3_media.prefix)}
    assert set(stored.values()) <= in_bucket
    assert not [k for k in stored.values() if (s3_media.settings.media_root / k).exists()]

    stored_bytes = {storage.read(key) for key in stored.values()}
    items = _walk(committed_client, login(committed_client, annotator), committed_db, study_id)
    assert len(items) == 6
    security = set(committed_client.get("/login").headers) - {"content-type", "content-length"}
    for number, item in enumerate(items):
        for scope, panes in item.groups.items():
            where = f"item {number}, {scope}"
            received = list(panes.values())
            assert all(r.status == 200 for r in received), where
            assert all(SIGNED_URL.match(r.url) for r in received), f"URL shape, {where}"
            for response in received:
                assert response.body in stored_bytes, where  # verbatim from the bucket
                names = set(response.headers) - security - {"set-cookie", "vary"}
                assert names == ANSWER_HEADERS, where
            assert len({len(r.body) for r in received}) == 1, f"byte lengths, {where}"
            assert len({tuple(sorted(r.headers.items())) for r in received}) == 1, where
            assert len({r.body[:PNG_HEADER_BYTES] for r in received}) == 1, f"IHDR, {where}"
