"""Studies built directly in the database, for tests of assignment and blinding."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from app.codec_runs import processing
from app.codec_runs import service as run_service
from app.codec_runs.models import CodecResult
from app.codec_runs.schemas import RunCreate
from app.config import get_settings
from app.db import make_sessionmaker, utcnow
from app.domain.roles import Role
from app.domain.testcard import draw_test_card
from app.storage import media_storage
from app.studies import proposals, service
from app.studies.models import Annotation, Assignment, Study, StudyItem
from app.studies.schemas import StudyCreate
from tests.factories import make_dataset, make_user, store_image


def open_study_with_items(engine: Engine, items: int, **fields: Any) -> tuple[int, list[int]]:
    """An open study of ``items`` crop items on one stored image; (study id, item ids)."""
    from PIL import Image

    with Session(engine, expire_on_commit=False) as session:
        dataset = make_dataset(session, f"study-{uuid.uuid4().hex[:8]}")
        image = store_image(session, dataset.id, Image.new("RGB", (256, 256), "gray"), "g.png")
        taxonomy = service.default_taxonomy(session)
        study = Study(
            name=f"study-{uuid.uuid4().hex[:8]}",
            instructions="Look closely.",
            status="open",
            run_ids=[],
            crop_sizes=[64],
            methods=["random"],
            items_target=items,
            quotas={"random": 1.0},
            raters_per_item=fields.pop("raters_per_item", 3),
            per_rater_cap=fields.pop("per_rater_cap", None),
            lease_s=fields.pop("lease_s", 900),
            blind=fields.pop("blind", True),
            panes=fields.pop("panes", ["original", "reconstruction", "jpeg"]),
            taxonomy_version_id=taxonomy.id,
            proposal_report={},
            **fields,
        )
        session.add(study)
        session.flush()
        rows = [
            StudyItem(
                study_id=study.id,
                position=position,
                kind="crop",
                method="random",
                image_id=image.id,
                x=0,
                y=0,
                size=64,
                share_percent=6.25,
                inclusion_probability=0.01,
                evidence={},
                assets={},
                active_count=0,
                done_count=0,
            )
            for position in range(items)
        ]
        session.add_all(rows)
        session.commit()
        return study.id, [r.id for r in rows]


def annotators(engine: Engine, count: int) -> list[int]:
    with Session(engine) as session:
        ids = [make_user(session, Role.ANNOTATOR).id for _ in range(count)]
        session.commit()
        return ids


def finished_run(
    engine: Engine,
    codec: str = "jpeg",
    params: dict[str, Any] | None = None,
    *,
    dataset_id: int | None = None,
) -> int:
    """A run (JPEG quality 4 by default) with matched-JPEG references over two crops of the
    test card (or over the images of ``dataset_id``), processed by the worker steps in this
    process."""
    card = draw_test_card()
    factory = make_sessionmaker(engine)
    settings = get_settings()
    storage = media_storage(settings)
    with Session(engine, expire_on_commit=False) as session:
        if dataset_id is None:
            dataset = make_dataset(session, f"proposals-{uuid.uuid4().hex[:8]}")
            store_image(session, dataset.id, card.crop((0, 0, 512, 384)), "top-left.png")
            store_image(session, dataset.id, card.crop((0, 200, 480, 520)), "plate.png")
            dataset_id = dataset.id
        run = run_service.create_run(
            session,
            RunCreate(
                dataset_id=dataset_id,
                codec=codec,
                params=params or {"quality": 4},
                match_jpeg=True,
            ),
            actor=None,
        )
        session.info.pop("miscomp_jobs", None)  # this test runs the worker steps itself
        session.commit()
        run_id = run.id
        result_ids = list(
            session.scalars(select(CodecResult.id).where(CodecResult.run_id == run_id))
        )
    for result_id in result_ids:
        assert processing.encode_result(factory, storage, settings, result_id, "t") == "encoded"
        assert processing.postprocess_result(factory, storage, settings, result_id, "t") == "done"
    return run_id


def blind_study(
    engine: Engine, run_id: int, *, extra_run_ids: tuple[int, ...] = (), **options: object
) -> int:
    """A proposed, open blind study of six 64-pixel crops over the run (and ``extra_run_ids``),
    one rater per item; ``options`` change any field of the study."""
    fields: dict[str, object] = {
        "name": f"study-{uuid.uuid4().hex[:6]}",
        "instructions": "Compare **A** and **B** with the original.",
        "run_ids": [run_id, *extra_run_ids],
        "crop_sizes": [64],
        "items": 6,
        "raters_per_item": 1,
        "panes": ["original", "reconstruction", "jpeg", "difference"],
        **options,
    }
    with Session(engine, expire_on_commit=False) as session:
        study = service.create_study(session, StudyCreate.model_validate(fields), actor=None)
        session.info.pop("miscomp_jobs")
        session.commit()
    storage = media_storage(get_settings())
    assert proposals.propose(make_sessionmaker(engine), storage, get_settings(), study.id) == "open"
    return study.id


def label_items(engine: Engine, study_id: int, rows: list[dict[str, object]]) -> None:
    """Stores finished assignments and their annotations as the raters would leave them."""
    now = utcnow()
    with Session(engine) as session:
        # Read once: a Study fetched per row is dropped from the session at once, and read again.
        taxonomy_version_id = session.scalar(
            select(Study.taxonomy_version_id).where(Study.id == study_id)
        )
        assignment_ids = session.scalars(
            insert(Assignment).returning(Assignment.id),
            [
                {
                    "study_id": study_id, "item_id": r["item_id"], "user_id": r["user_id"],
                    "status": "done", "leased_at": now,
                    "lease_expires_at": now + timedelta(hours=1),
                    "finished_at": now, "pane_map": {"original": "original", "A": "reconstruction"},
                }
                for r in rows
            ],
        ).all()  # fmt: skip
        session.execute(
            insert(Annotation),
            [
                {
                    "client_id": f"sim-{study_id}-{i}", "assignment_id": a, "study_id": study_id,
                    "taxonomy_version_id": taxonomy_version_id,
                    "revision": 1, "note": "", "original_shows": "", "compressed_shows": "",
                    "seen_in": [], "boxes": [], "created_at": now, **r,
                }
                for i, (a, r) in enumerate(zip(assignment_ids, rows, strict=True))
            ],
        )  # fmt: skip
        session.commit()
