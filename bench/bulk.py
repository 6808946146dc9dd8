"""Large studies for benchmarks, inserted in bulk (10,000 rows a statement)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from app.studies.models import Study, StudyItem


def bulk_study(
    factory: sessionmaker[Session],
    *,
    name: str,
    items: int,
    image_id: int,
    taxonomy_id: int,
    size: int = 64,
    assets: Callable[[int], dict[str, str]] = lambda position: {},
) -> int:
    """An open, blind k=3 study of ``items`` crops of one image; its id. ``assets`` gives
    each item's pane tokens by position."""
    with factory.begin() as session:
        study = Study(
            name=name,
            status="open",
            run_ids=[],
            crop_sizes=[size],
            methods=["random"],
            items_target=items,
            quotas={"random": 1.0},
            raters_per_item=3,
            lease_s=900,
            blind=True,
            panes=["original", "reconstruction", "jpeg"],
            taxonomy_version_id=taxonomy_id,
            proposal_report={},
        )
        session.add(study)
        session.flush()
        for start in range(0, items, 10_000):
            session.execute(
                insert(StudyItem),
                [
                    {
                        "study_id": study.id,
                        "position": p,
                        "kind": "crop",
                        "method": "random",
                        "image_id": image_id,
                        "x": 0,
                        "y": 0,
                        "size": size,
                        "share_percent": 100.0 * size * size / (256 * 256),
                        "score": 0.0,
                        "evidence": {},
                        "assets": assets(p),
                        "active_count": 0,
                        "done_count": 0,
                    }
                    for p in range(start, min(items, start + 10_000))
                ],
            )
        return study.id


@dataclass(frozen=True)
class StudyDatabase:
    """A throwaway PostgreSQL database, migrated, with one dataset image to crop from and
    the annotators of a benchmark."""

    url: str
    engine: Engine
    factory: sessionmaker[Session]
    image_id: int
    taxonomy_id: int
    annotators: list[tuple[int, str]]
    """(id, username)"""


def study_database(name: str, annotators: int, password: str) -> StudyDatabase:
    import os

    import numpy as np
    from PIL import Image

    from app import install_session_listeners
    from app.db import make_engine, make_sessionmaker
    from app.domain.roles import Role
    from app.migrate import upgrade
    from app.studies import service
    from bench.throwaway import fresh_postgres
    from tests.factories import make_dataset, make_user, store_image

    url = fresh_postgres(name)
    os.environ["MISCOMP_DATABASE_URL"] = url
    upgrade(url)
    install_session_listeners()
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        dataset = make_dataset(session, "bench")
        noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), np.uint8)
        image_id = store_image(session, dataset.id, Image.fromarray(noise), "noise.png").id
        users = [make_user(session, Role.ANNOTATOR, password=password) for _ in range(annotators)]
        people = [(u.id, u.username) for u in users]
        taxonomy_id = service.default_taxonomy(session).id
    return StudyDatabase(url, engine, factory, image_id, taxonomy_id, people)
