"""Studies labelled through the real services, and their exports, for the export tests."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.domain.exports import formats
from app.domain.roles import Role
from app.exports.records import ExportOptions, study_records
from app.studies import adjudication, assignment, labels
from app.studies.models import Study, StudyItem
from app.studies.schemas import AdjudicationCreate, AnnotationEdit, AnnotationSubmit
from app.users import service as user_service
from tests.conftest import wait_for_job
from tests.factories import make_user


def api_headers(engine: Engine, role: Role = Role.RESEARCHER) -> dict[str, str]:
    """The headers of a script acting as a new user of ``role``, by a committed API token."""
    with Session(engine, expire_on_commit=False) as session:
        user = make_user(session, role)
        _, secret = user_service.create_token(session, user, "script")
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


def label_everything(engine: Engine, study_id: int) -> dict[str, Any]:
    """Two raters label every item through the services the workspace uses: the first sees
    a SHAPE miscompression with SYMBOL and a box in the reconstruction on every item and
    revises the first one; the second sees none. The first crop item is adjudicated."""
    with Session(engine, expire_on_commit=False) as session:
        seer = make_user(session, Role.ANNOTATOR)
        doubter = make_user(session, Role.ANNOTATOR)
        researcher = make_user(session, Role.RESEARCHER)
        session.commit()
    revised = None
    for user in (seer, doubter):
        while True:
            with Session(engine, expire_on_commit=False) as session:
                study = session.get(Study, study_id)
                assert study is not None
                lease = assignment.next_item(session, study, session.merge(user))
                if lease is None:
                    break
                shown = {pane: label for label, pane in lease.pane_map.items()}
                if user is seer:
                    data = AnnotationSubmit(
                        client_id=uuid.uuid4().hex,
                        verdict="miscompression",
                        categories=["shape"],
                        modifiers=["symbol"],
                        seen_in=[shown["reconstruction"]],
                        boxes=[{"pane": shown["reconstruction"], "x": 3, "y": 4, "w": 10, "h": 6}],
                        original_shows="a 3",
                        compressed_shows="an 8",
                        confidence=4,
                        note="Ziffer geändert — 数字",
                        time_spent_ms=5400,
                    )
                else:
                    data = AnnotationSubmit(
                        client_id=uuid.uuid4().hex, verdict="no_miscompression", confidence=2
                    )
                annotation = labels.submit(session, lease.id, session.merge(user), data)
                session.commit()
                if user is seer and revised is None:
                    edit = AnnotationEdit(
                        **{**data.model_dump(), "client_id": uuid.uuid4().hex},
                        base_revision=1,
                    )
                    edit.categories = ["shape", "amplitude"]
                    labels.revise(session, annotation.id, session.merge(user), edit)
                    session.commit()
                    revised = annotation.id
    with Session(engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        first = session.scalar(
            select(StudyItem.id)
            .where(StudyItem.study_id == study_id, StudyItem.kind == "crop")
            .order_by(StudyItem.id)
        )
        assert first is not None
        adjudication.decide(
            session,
            study,
            first,
            AdjudicationCreate(verdict="miscompression", categories=["shape"], note="ja"),
            session.merge(researcher),
        )
        session.commit()
    return {"seer": seer, "doubter": doubter, "revised": revised, "adjudicated": first}


def export_bytes(engine: Engine, study_id: int, name: str, **options: bool) -> bytes:
    """The study's export in format ``name``, written to memory."""
    with Session(engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        out = io.BytesIO()
        formats.get(name).write(study_records(session, study, ExportOptions(**options)), out, None)
        return out.getvalue()


def jsonl_records(engine: Engine, study_id: int, **options: bool) -> list[dict[str, Any]]:
    """The study's records as its JSONL export holds them."""
    lines = export_bytes(engine, study_id, "jsonl", **options).splitlines()
    return [json.loads(line) for line in lines]


def hf_dataset(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Parquet file as Hugging Face ``datasets`` loads it, offline, with every cache
    under ``tmp_path``."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets  # reads the settings above when first imported

    return datasets.load_dataset(
        "parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache")
    )


def wait_for_export(
    client: TestClient, export_id: int, headers: dict[str, str]
) -> dict[str, object]:
    """The export job as the API shows it once a worker has ended it (two minutes at most)."""
    return wait_for_job(client, f"/api/exports/{export_id}", headers)
