"""The New run form generated from each codec's declared parameters (issue 17, item 4): the
fields show their kinds, ranges, defaults and help; the chosen codec's fields make the run's
parameters, the JSON overrides them, and a refused value comes back as typed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecRun
from tests.codec_runs.helpers import admin_with_dataset


def _fieldset(page: str, codec: str) -> str:
    found = re.search(rf'data-codec-params="{codec}".*?</fieldset>', page, re.S)
    assert found, codec
    return found.group(0)


def test_each_codec_has_fields_of_its_declared_parameters(client: TestClient, db: Session) -> None:
    admin_with_dataset(client, db)
    page = client.get("/runs/new").text
    jpeg = _fieldset(page, "jpeg")
    assert re.search(
        r'name="p\.jpeg\.quality" type="number" step="1" min="1" max="100" value="75"', jpeg
    )
    assert "quality setting: higher keeps more detail" in jpeg and "Default: 75." in jpeg
    assert '<option value="4:2:0" selected>4:2:0</option>' in jpeg
    assert re.search(r'name="p\.jpeg\.optimize">\s*<option value="true" >yes', jpeg)
    assert 'max="6" value="4"' in _fieldset(page, "webp")  # webp's method
    zoo = _fieldset(page, "compressai")
    assert re.search(r'name="p\.compressai\.arch">\s*<option value="" selected>choose…', zoo)
    assert 'quality <span class="hint">(required)</span>' in zoo
    assert 'data-codec-params="imported"' not in page  # made by `miscomp runs import`
    assert "Parameters as JSON (override the fields above)" in page


def test_the_chosen_codecs_fields_make_the_parameters_and_json_overrides(
    client: TestClient, db: Session
) -> None:
    csrf, dataset_id = admin_with_dataset(client, db)
    form = {
        "csrf_token": csrf,
        "dataset_id": str(dataset_id),
        "codec": "jpeg",
        "params": "{}",
        "seeds": "0",
        "p.jpeg.quality": "30",
        "p.jpeg.subsampling": "4:4:4",
        "p.jpeg.optimize": "true",
        "p.jpeg.progressive": "false",
        "p.webp.quality": "90",  # another codec's field: never mixed in
        "p.webp.method": "6",
    }
    made = client.post("/runs", data=form)
    assert made.status_code == 303, made.text
    run = db.scalars(select(CodecRun).order_by(CodecRun.id.desc())).first()
    assert run is not None and run.codec == "jpeg"
    assert run.params == {
        "quality": 30, "subsampling": "4:4:4", "optimize": True, "progressive": False
    }  # fmt: skip
    overridden = client.post("/runs", data={**form, "params": '{"quality": 50}'})
    assert overridden.status_code == 303
    run = db.scalars(select(CodecRun).order_by(CodecRun.id.desc())).first()
    assert run is not None and run.params["quality"] == 50
    assert run.params["subsampling"] == "4:4:4"  # the fields the JSON leaves alone stay


def test_a_refused_field_comes_back_as_typed_and_nothing_is_queued(
    client: TestClient, db: Session
) -> None:
    csrf, dataset_id = admin_with_dataset(client, db)
    form = {
        "csrf_token": csrf,
        "dataset_id": str(dataset_id),
        "codec": "webp",
        "params": "{}",
        "seeds": "0",
        "p.webp.quality": "101",
        "p.webp.method": "fast",
    }
    refused = client.post("/runs", data=form)
    assert refused.status_code == 422
    assert "quality: must be at most 100; method: must be a whole number" in refused.text
    webp = _fieldset(refused.text, "webp")
    assert 'name="p.webp.quality"' in webp and 'value="101"' in webp
    assert 'value="fast"' in webp
    assert db.scalar(select(func.count()).select_from(CodecRun)) == 0
    required = client.post(
        "/runs",
        data={"csrf_token": csrf, "dataset_id": str(dataset_id), "codec": "compressai",
              "params": "{}", "p.compressai.arch": "", "p.compressai.quality": ""},
    )  # fmt: skip
    assert required.status_code == 422
    assert "arch: is required; quality: is required" in required.text


def test_a_sweep_sets_its_parameter_whatever_the_field_says(
    client: TestClient, db: Session
) -> None:
    csrf, dataset_id = admin_with_dataset(client, db)
    swept = client.post(
        "/runs",
        data={"csrf_token": csrf, "dataset_id": str(dataset_id), "codec": "jpeg",
              "params": "{}", "p.jpeg.quality": "75", "p.jpeg.subsampling": "4:4:4",
              "sweep_param": "quality", "sweep_values": "10, 40"},
    )  # fmt: skip
    assert swept.status_code == 303, swept.text
    runs = db.scalars(select(CodecRun).order_by(CodecRun.id)).all()
    assert [(r.params["quality"], r.params["subsampling"]) for r in runs] == [
        (10, "4:4:4"), (40, "4:4:4")
    ]  # fmt: skip
