"""One stored row of each kind a route's path names, for the walks over every route
(``tests/test_route_roles.py``, ``tests/test_csrf.py``)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun, CodecSweep
from app.datasets.models import ImportJob
from app.domain.roles import Role
from app.users import service as user_service
from tests.factories import image_bytes, make_dataset, make_user, store_image


@dataclass
class World:
    ids: dict[str, int | str]
    """Path parameter -> value: ``path.format(**world.ids)`` is a URL of any route."""


def build_world(db: Session) -> World:
    """A dataset, import, image, sweep, run, result, annotator and API token; studies are left
    empty (an allowed role gets 404 or 422 there). Committed (a savepoint release), so that
    a request that fails rolls back to here."""
    dataset = make_dataset(db)
    job = ImportJob(dataset_id=dataset.id, source_kind="upload", status="done")
    db.add(job)
    db.flush()
    image = store_image(db, dataset.id, PILImage.open(io.BytesIO(image_bytes())), "a.png")
    image.import_id = job.id
    sweep = CodecSweep(dataset_id=dataset.id, codec="jpeg", param="quality", values=[20])
    db.add(sweep)
    db.flush()
    run = CodecRun(
        dataset_id=dataset.id,
        codec="jpeg",
        params={"quality": 20},
        seeds=[0],
        sweep_id=sweep.id,
    )
    db.add(run)
    db.flush()
    result = CodecResult(
        run_id=run.id,
        image_id=image.id,
        seed=0,
        status="done",
        recon_key=image.storage_key,
    )
    db.add(result)
    other = make_user(db, Role.ANNOTATOR)
    token, _ = user_service.create_token(db, other, "t")
    db.commit()
    return World(
        ids={
            "dataset_id": dataset.id,
            "image_id": image.id,
            "import_id": job.id,
            "user_id": other.id,
            "token_id": token.id,
            "run_id": run.id,
            "sweep_id": sweep.id,
            "result_id": result.id,
            "kind": "reconstruction",
            "fmt": "svg",
            "study_id": 999_999,
            "assignment_id": 999_999,
            "token": "no-such-token",
            "link": "not-a-signed-link",
            "annotation_id": 999_999,
            "item_id": 999_999,
            "export_id": 999_999,
            "audit_id": 999_999,
            "retraining_id": 999_999,
            "name": "original",
            "group_id": 999_999,
            "digest": "0" * 64,
        }
    )
