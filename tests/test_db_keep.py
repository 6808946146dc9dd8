"""``db.keep``: what a request's steps share is held, and a long worker session stays small."""

from __future__ import annotations

import gc

from sqlalchemy.orm import Session

from app.db import KEPT_AT_MOST, keep
from app.studies.models import TaxonomyVersion


def test_kept_objects_outlive_their_loader_and_only_the_latest_are_held() -> None:
    session = Session()
    versions = [TaxonomyVersion(name=f"v{n}", version=n) for n in range(KEPT_AT_MOST + 10)]
    keep(session, *versions)
    latest = {id(v) for v in versions[-KEPT_AT_MOST:]}
    oldest = id(versions[0])
    del versions
    gc.collect()
    held = {id(v) for v in session.info["kept"]}
    assert held == latest  # held without any other reference to them
    assert oldest not in held  # a session that leases thousands of items keeps only a few
