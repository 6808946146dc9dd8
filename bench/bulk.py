"""Large studies for benchmarks, inserted in bulk (10,000 rows a statement)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert
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
