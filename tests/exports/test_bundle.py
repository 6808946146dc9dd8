"""A study's export bundle: one zip whose every member is checked against what it stands for
(the single-format exports, the study's crops and originals, its report), with a datasheet
that says what the study was, and which never lies half-written where the file should be."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli
from app.codec_runs.models import CodecRun
from app.config import get_settings
from app.datasets.models import Dataset, Image
from app.domain import panes as pane_names
from app.domain.exports import bundle_layout as layout
from app.domain.exports import formats
from app.domain.exports.datasheet import datasheet
from app.domain.images import decode_image
from app.domain.roles import Role
from app.exports import service as export_service
from app.exports.bundle_sheet import gather_datasheet
from app.exports.records import ExportOptions
from app.storage import LocalMediaStorage, MediaStorage, load_rgb
from app.studies.models import LabelSource, Study, StudyAsset, StudyItem
from app.users import service as user_service
from tests.conftest import login
from tests.exports.helpers import export_bytes, hf_dataset, label_everything, wait_for_export
from tests.factories import make_user
from tests.studies.helpers import blind_study, finished_run

LICENCE = "CC BY 4.0"
ATTRIBUTION = "Test card by the miscomp authors"


def _credit_the_dataset(engine: Engine, study_id: int) -> None:
    """Give the study's dataset a licence and a source, as an admin would."""
    with Session(engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        run = session.get(CodecRun, study.run_ids[0])
        assert run is not None
        dataset = session.get(Dataset, run.dataset_id)
        assert dataset is not None
        dataset.license, dataset.source = LICENCE, ATTRIBUTION
        session.commit()


def _bundle(engine: Engine, study_id: int, out: Path, storage: MediaStorage | None = None) -> int:
    with Session(engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        return export_service.write_study_export(
            session,
            storage or LocalMediaStorage(get_settings().media_root),
            study,
            out,
            format_name="bundle",
        )


def _panes(engine: Engine, study_id: int) -> dict[tuple[int, str], np.ndarray]:  # type: ignore[type-arg]
    """(item id, pane name) -> the pixels the study stored for it."""
    storage = LocalMediaStorage(get_settings().media_root)
    found = {}
    with Session(engine) as session:
        for item in session.scalars(select(StudyItem).where(StudyItem.study_id == study_id)):
            for pane, token in item.assets.items():
                if pane in pane_names.ALL:
                    asset = session.get(StudyAsset, token)
                    assert asset is not None
                    found[(item.id, pane)] = load_rgb(storage, asset.storage_key)
    return found


def _pixels(data: bytes) -> np.ndarray:  # type: ignore[type-arg]
    with PILImage.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def test_the_bundle_holds_every_file_of_the_study(
    labelled_study: dict[str, Any],
    committed_db: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study_id, blind = labelled_study["study_id"], labelled_study["blind"]
    _credit_the_dataset(committed_db, study_id)
    out = tmp_path / "bundle.zip"
    written = _bundle(committed_db, study_id, out)
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it
    bundle = zipfile.ZipFile(out)
    names = set(bundle.namelist())

    # The record formats, as the single-format exports write them.
    for name in formats.names():
        member = layout.record_member(name, formats.get(name).suffix)
        assert bundle.read(member) == export_bytes(committed_db, study_id, name), name
    assert pq.read_table(io.BytesIO(bundle.read("annotations.parquet"))).num_rows == written

    # Every pane of every item, by its name, with the pixels the study stored.
    stored = _panes(committed_db, study_id)
    crops = {n for n in names if n.startswith(f"{layout.CROPS_DIR}/")}
    assert crops == {layout.crop_member(item, pane) for item, pane in stored}
    assert {n.rsplit("/", 1)[1].removesuffix(".png") for n in crops} <= set(pane_names.ALL)
    for (item, pane), pixels in stored.items():
        assert np.array_equal(_pixels(bundle.read(layout.crop_member(item, pane))), pixels)

    # The crop table: one row per pane, decoded by `datasets` as PIL images.
    table_path = tmp_path / "unpacked" / layout.CROP_TABLE
    table_path.parent.mkdir()
    table_path.write_bytes(bundle.read(layout.CROP_TABLE))
    rows = hf_dataset(table_path, tmp_path, monkeypatch)
    assert len(rows) == len(stored)
    for row in rows:
        assert isinstance(row["image"], PILImage.Image)
        shown = np.asarray(row["image"].convert("RGB"), dtype=np.uint8)
        assert np.array_equal(shown, stored[(row["item_id"], row["pane"])])
        assert row["codec"] == "jpeg" or row["kind"] != "crop"
        assert row["size"] == shown.shape[0]
    frame = pd.read_parquet(table_path)
    assert set(frame["pane"]) <= set(pane_names.ALL)

    # The results: the report with raters by pseudonym, its tables and the figures.
    report = json.loads(bundle.read(layout.REPORT))
    assert [q["key"] for q in report["questions"]][0] == "verdict"
    assert "flagged" not in report and "confirmed_by_raters" not in report
    assert {r["rater"] for r in report["raters"]} == {"R01", "R02"}
    pairs = {key for q in report["questions"] for key in q["cohen_kappa_pairs"]}
    assert pairs <= {"R01 / R02", "R02 / R01"}
    agreement = pd.read_csv(io.BytesIO(bundle.read(layout.AGREEMENT_CSV)))
    assert agreement["question"].tolist() == [q["key"] for q in report["questions"]]
    verdict = report["questions"][0]
    assert agreement["krippendorff_alpha"][0] == pytest.approx(verdict["krippendorff_alpha"])
    prevalence = pd.read_csv(io.BytesIO(bundle.read(layout.PREVALENCE_CSV)))
    assert len(prevalence) == len(report["prevalence"]) > 0
    for fmt in layout.FIGURE_FORMATS:
        for figure in (layout.AGREEMENT_FIGURE, layout.PREVALENCE_FIGURE):
            data = bundle.read(layout.figure_member(figure, fmt))
            assert data.startswith(b"%PDF" if fmt == "pdf" else b"<?xml")

    # No originals unless asked for; nothing else.
    assert not any(n.startswith(f"{layout.ORIGINALS_DIR}/") for n in names)
    results = {layout.REPORT, layout.AGREEMENT_CSV, layout.PREVALENCE_CSV} | {
        layout.figure_member(figure, fmt)
        for figure in (layout.AGREEMENT_FIGURE, layout.PREVALENCE_FIGURE)
        for fmt in layout.FIGURE_FORMATS
    }
    records = {layout.record_member(n, formats.get(n).suffix) for n in formats.names()}
    assert names == {layout.README, layout.CROP_TABLE} | records | crops | results

    # The datasheet: design, codec, licence, raters, agreement, blinding, how to load.
    sheet = bundle.read(layout.README).decode()
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        name = study.name
    assert sheet.startswith(f"# Datasheet: {name}\n")
    assert "## Study design" in sheet and "Raters per item (k): 2" in sheet
    assert "Codec `jpeg`, parameters `{" in sheet and '"quality": 4' in sheet
    assert f"| {LICENCE} | {ATTRIBUTION} |" in sheet
    assert "annotations by 2 raters" in sheet
    assert "Agreement on the verdict: Krippendorff's alpha" in sheet
    alpha = verdict["krippendorff_alpha"]
    assert alpha is None or f"{alpha:.3f}" in sheet
    assert "| `shape` | SHAPE | category | Changed contours: the shape" in sheet
    assert ("**Blind**" in sheet) is blind and ("**Not blind**" in sheet) is not blind
    assert "Simulated labels" not in sheet
    assert 'datasets.load_dataset("parquet", data_files="crops.parquet"' in sheet
    assert "## Limitations" in sheet


@pytest.mark.parametrize("labelled_study", [True], indirect=True, ids=["blind"])
def test_the_command_adds_the_originals_only_when_asked(
    labelled_study: dict[str, Any], committed_db: Engine, tmp_path: Path
) -> None:
    study_id = labelled_study["study_id"]
    out = tmp_path / "with-originals.zip"
    result = CliRunner().invoke(
        cli.app,
        [
            "studies",
            "export",
            str(study_id),
            "--format",
            "bundle",
            "--originals",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    bundle = zipfile.ZipFile(out)
    originals = {n for n in bundle.namelist() if n.startswith(f"{layout.ORIGINALS_DIR}/")}
    with Session(committed_db) as session:
        used = select(StudyItem.image_id).where(StudyItem.study_id == study_id)
        expected = set(session.scalars(select(Image.pixels_sha256).where(Image.id.in_(used))))
    assert originals == {layout.original_member(sha) for sha in expected}
    for member in originals:
        decoded = decode_image(bundle.read(member), max_pixels=50_000_000)
        assert layout.original_member(decoded.pixels_sha256) == member
    assert f"`{layout.ORIGINALS_DIR}/<sha256>.png`" in bundle.read(layout.README).decode()

    refused = CliRunner().invoke(
        cli.app,
        ["studies", "export", str(study_id), "--format", "csv", "--originals", "--out", str(out)],
    )
    assert refused.exit_code == 1
    assert "the full originals go into a bundle only" in refused.output
    unknown = CliRunner().invoke(
        cli.app, ["studies", "export", str(study_id), "--format", "tar", "--out", str(out)]
    )
    assert "known: coco, csv, jsonl, parquet, bundle" in unknown.output


class _StorageThatFails:
    """A media store whose disk goes away after a few reads (a backend we do not control)."""

    def __init__(self, inner: MediaStorage, reads: int) -> None:
        self.inner, self.reads = inner, reads

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def read(self, key: str) -> bytes:
        self.reads -= 1
        if self.reads < 0:
            raise OSError("the media disk went away")
        return self.inner.read(key)

    def local_path(self, key: str) -> Path:
        return self.inner.local_path(key)


@pytest.mark.parametrize("labelled_study", [True], indirect=True, ids=["blind"])
def test_an_interrupted_bundle_leaves_no_file(
    labelled_study: dict[str, Any], committed_db: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.zip"
    failing = _StorageThatFails(LocalMediaStorage(get_settings().media_root), reads=3)
    with pytest.raises(OSError, match="went away"):
        _bundle(committed_db, labelled_study["study_id"], out, failing)
    assert list(tmp_path.iterdir()) == []


def test_a_worker_writes_a_bundle_asked_for_through_the_api(
    committed_client: TestClient, committed_db: Engine, request: pytest.FixtureRequest
) -> None:
    study_id = blind_study(committed_db, finished_run(committed_db), raters_per_item=2)
    label_everything(committed_db, study_id)
    # The worker starts only now: finished_run codes in this process, and a worker running
    # meanwhile would take the post-processing tasks it sends.
    request.getfixturevalue("celery_worker_thread")
    with Session(committed_db, expire_on_commit=False) as session:
        researcher = make_user(session, Role.RESEARCHER)
        _, secret = user_service.create_token(session, researcher, "script")
        session.commit()
    api = {"Authorization": f"Bearer {secret}"}

    wrong = committed_client.post(
        f"/api/studies/{study_id}/exports",
        json={"format": "csv", "include_originals": True},
        headers=api,
    )
    assert wrong.status_code == 422 and "go into a bundle only" in wrong.text
    asked = committed_client.post(
        f"/api/studies/{study_id}/exports",
        json={"format": "bundle", "include_originals": True},
        headers=api,
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["include_originals"] is True
    done = wait_for_export(committed_client, asked.json()["id"], api)
    assert done["status"] == "done", done
    assert done["done"] == done["total"] and int(str(done["total"])) > 0
    download = committed_client.get(str(done["download_url"]), headers=api)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert ".zip" in download.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert layout.README in names and layout.CROP_TABLE in names
    assert any(n.startswith(f"{layout.ORIGINALS_DIR}/") for n in names)
    assert [p.name for p in get_settings().exports_dir.iterdir() if "partial" in p.name] == []

    # The study page's panel offers the bundle and its originals, and lists the job.
    login(committed_client, researcher)
    panel = committed_client.get(f"/studies/{study_id}/exports")
    assert '<option value="bundle">' in panel.text
    assert 'name="include_originals"' in panel.text
    assert "bundle, originals" in panel.text


@pytest.mark.parametrize("labelled_study", [True], indirect=True, ids=["blind"])
def test_the_datasheet_of_simulated_labels_says_so_first(
    labelled_study: dict[str, Any], committed_db: Engine
) -> None:
    study_id = labelled_study["study_id"]
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        study.label_source = LabelSource.SIMULATED
        study.simulation = {"raters": 2, "error_rate": 0.2, "seed": 5}
        report = {"questions": [], "prevalence": [], "outcomes": []}
        sheet = datasheet(
            gather_datasheet(session, study, report, ExportOptions(), include_originals=False)
        )
        session.rollback()
    assert sheet.split("\n\n")[1].startswith("> **Simulated labels.** 2 simulated raters")
    assert "(seed 5)" in sheet and "Labels given by simulated raters." in sheet
