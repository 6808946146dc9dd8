"""Every download the platform offers survives any name: Japanese, quotes, backslashes and,
in rows stored before names were checked, CR/LF and bidi overrides (RFC 6266 ``filename*``
with an ASCII fallback)."""

from __future__ import annotations

from email.message import Message

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecRun
from app.datasets.models import Dataset
from app.domain.roles import Role
from app.studies.models import Study, StudyItem
from tests.conftest import login
from tests.factories import make_user
from tests.studies.helpers import annotators, blind_study, finished_run, label_items

NAMES = {
    "japanese": ("写真の研究", "写真の研究"),
    "quotes and backslash": ('say "hi" \\ bye', 'say "hi" _ bye'),
    "line breaks": ("two\r\nlines", "two__lines"),
    "bidi override": ("evil\u202egnp", "evil_gnp"),
}
"""Stored name -> the name the browser is asked to save under (before the suffix)."""

SHAPE = {"verdict": "miscompression", "categories": ["shape"], "modifiers": []}


def _saved_as(header: str) -> tuple[str, str]:
    """(disposition, the UTF-8 file name a modern browser saves under)."""
    disposition, _plain, extended = header.split("; ")
    message = Message()
    message["Content-Disposition"] = f"{disposition}; {extended}"
    filename = message.get_filename()
    assert filename is not None
    return disposition, filename


def test_every_figure_download_survives_any_name(
    committed_client: TestClient, committed_db: Engine
) -> None:
    run_id = finished_run(committed_db)
    study_id = blind_study(committed_db, run_id)
    with Session(committed_db) as session:
        item_id, position = session.execute(
            select(StudyItem.id, StudyItem.position)
            .where(StudyItem.study_id == study_id, StudyItem.kind == "crop")
            .order_by(StudyItem.position)
        ).first()  # type: ignore[misc]
        dataset_id = session.scalars(select(CodecRun.dataset_id).where(CodecRun.id == run_id)).one()
    raters = annotators(committed_db, 2)
    label_items(
        committed_db,
        study_id,
        [
            {"item_id": item_id, "user_id": r, "confidence": 3, "late": False, **SHAPE}
            for r in raters
        ],
    )
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    login(committed_client, researcher)

    for case, (stored, shown) in NAMES.items():
        # Written directly, as rows stored before names were checked would be.
        with Session(committed_db) as session:
            session.execute(update(Study).where(Study.id == study_id).values(name=stored))
            session.execute(update(Dataset).where(Dataset.id == dataset_id).values(name=stored))
            session.commit()
        downloads = {
            f"/studies/{study_id}/gallery/{item_id}.png": f"{shown}-item-{position}.png",
            f"/studies/{study_id}/results/agreement.svg": f"{shown}-agreement.svg",
            f"/studies/{study_id}/results/prevalence.svg": f"{shown}-prevalence.svg",
            f"/datasets/{dataset_id}/rd.svg": f"rd-{shown}.svg",
        }
        for url, filename in downloads.items():
            response = committed_client.get(url)
            assert response.status_code == 200, (case, url, response.text[:300])
            assert response.content, (case, url)
            header = response.headers["content-disposition"]
            assert header.isascii(), (case, url, header)
            assert _saved_as(header) == ("inline", filename), (case, url)
