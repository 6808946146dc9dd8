"""The labelled studies every export test starts from."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.exports.helpers import label_everything
from tests.studies.helpers import blind_study, finished_run


def _labelled_study(engine: Engine, *, blind: bool) -> dict[str, Any]:
    run_id = finished_run(engine)
    study_id = blind_study(
        engine,
        run_id,
        name=f"Étude 圧縮 Ω {uuid.uuid4().hex[:4]}",
        raters_per_item=2,
        blind=blind,
        panes=["original", "reconstruction", "jpeg"],
    )
    return {"study_id": study_id, "blind": blind, **label_everything(engine, study_id)}


@pytest.fixture(params=[True, False], ids=["blind", "unblinded"])
def labelled_study(request: pytest.FixtureRequest, committed_db: Engine) -> dict[str, Any]:
    """A blind and an unblinded study over a finished JPEG run, labelled by
    ``label_everything``: its id, whether blind, and what ``label_everything`` returns."""
    return _labelled_study(committed_db, blind=request.param)


@pytest.fixture
def blind_labelled_study(committed_db: Engine) -> dict[str, Any]:
    """The blind one alone, for tests that blinding does not change."""
    return _labelled_study(committed_db, blind=True)
