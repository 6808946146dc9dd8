"""The hostile-input corpus (``tests/hostile/``) against every route and form that takes such
a field, as an admin, a researcher and an annotator: no answer is a 500, and what no field
accepts (numbers past 64 bits, NaN, infinities, runaway JSON) is answered with a 4xx.

A role that may not use a route is answered 403 before its input is looked at; that is a
4xx too, so every role walks every target.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.domain.roles import Role
from tests.conftest import app_routes, login
from tests.factories import image_bytes, make_dataset, make_user, store_image
from tests.hostile import corpus

PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass
class World:
    client: TestClient
    csrf: str
    dataset_id: int
    run_id: int
    result_id: int
    failures: list[str] = field(default_factory=list)

    def send(self, method: str, url: str, *, invalid: bool, what: str, **kwargs: Any) -> None:
        """One request; a failure is noted (all are reported together at the end)."""
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        status = self.client.request(method, url, headers=headers, **kwargs).status_code
        if status >= 500 or (invalid and not 400 <= status < 500):
            self.failures.append(f"{what}: {method} {url[:120]} answered {status}")

    def json(self, method: str, url: str, body: bytes, *, invalid: bool, what: str) -> None:
        self.send(
            method,
            url,
            invalid=invalid,
            what=what,
            content=body,
            headers={"Content-Type": "application/json"},
        )


@pytest.fixture(params=list(Role), ids=lambda role: role.value)
def world(request: pytest.FixtureRequest, client: TestClient, db: Session) -> Iterator[World]:
    dataset = make_dataset(db)
    image = store_image(db, dataset.id, PILImage.open(io.BytesIO(image_bytes())), "a.png")
    run = CodecRun(dataset_id=dataset.id, codec="jpeg", params={"quality": 20}, seeds=[0])
    db.add(run)
    db.flush()
    result = CodecResult(
        run_id=run.id, image_id=image.id, seed=0, status="done", recon_key=image.storage_key
    )
    db.add(result)
    user = make_user(db, request.param)
    db.commit()
    csrf = login(client, user)
    world = World(client, csrf, dataset.id, run.id, result.id)
    yield world
    assert not world.failures, "\n".join(world.failures)


def _literal(number: str) -> str:
    """The number as it would be written into a JSON document by hand."""
    return number if number else '""'


def test_numbers(world: World) -> None:
    filler = {"fmt": "svg", "kind": "reconstruction", "token": "x"}
    for label, number in corpus.NUMBERS.items():
        invalid = label in corpus.INVALID_EVERYWHERE
        what = f"number {label}"
        # Every path parameter of every route.
        for method, path in app_routes():
            for name in PATH_PARAMETER.findall(path):
                if name in filler:
                    continue
                values = {n: filler.get(n, "1") for n in PATH_PARAMETER.findall(path)}
                values[name] = quote(number, safe="")
                url = PATH_PARAMETER.sub(lambda m, v=values: v[m.group(1)], path)  # type: ignore[misc]
                world.send(method, url, invalid=invalid and bool(number), what=what)
        # Query parameters.
        d = world.dataset_id
        for url in (
            "/api/audit?offset={n}",
            "/api/audit?limit={n}",
            "/admin/audit?page={n}",
            f"/datasets/{d}?page={{n}}",
            f"/api/datasets/{d}/images?offset={{n}}",
            f"/api/datasets/{d}/images?limit={{n}}",
            "/studies/1/adjudication?page={n}",
            "/studies/1/adjudication?threshold={n}",
            "/api/studies/1/adjudication?threshold={n}",
            "/api/studies/1/adjudication?limit={n}",
            "/api/studies/1/adjudication?page={n}",
            "/studies/1/gallery?page={n}",
        ):
            world.send("GET", url.format(n=quote(number)), invalid=invalid, what=what)
        # The study form, one number at a time; every other field valid.
        study_form = {
            "name": "hostile",
            "run_ids": str(world.run_id),
            "items": "10",
            "quota_guided": "0",
            "quota_random": "100",
            "quota_control": "0",
            "methods": "random",
            "raters_per_item": "2",
            "lease_min": "15",
            "seed": "0",
            "region_iou": "0.5",
            "csrf_token": world.csrf,
        }
        for name in (
            "run_ids",
            "items",
            "quota_random",
            "raters_per_item",
            "per_rater_cap",
            "lease_min",
            "seed",
            "region_iou",
            "crop_sizes",
        ):
            world.send(
                "POST", "/studies", invalid=invalid, what=f"{what} in {name}",
                data={**study_form, name: number},
            )  # fmt: skip
        # The run form and the run import form.
        run_form = {"dataset_id": str(d), "codec": "jpeg", "params": "{}", "seeds": "0"}
        for name in ("dataset_id", "seeds"):
            world.send(
                "POST", "/runs", invalid=invalid, what=f"{what} in {name}",
                data={**run_form, name: number, "csrf_token": world.csrf},
            )  # fmt: skip
        manifest = ("m.csv", b"image,reconstruction,codec,bpp\na.png,a.png,x,0.5\n", "text/csv")
        for url in ("/runs/import", "/api/runs/import"):
            world.send(
                "POST", url, invalid=invalid, what=f"{what} in dataset_id",
                data={"dataset_id": number}, files={"manifest": manifest},
            )  # fmt: skip
        # JSON bodies, the number written in by hand.
        n = _literal(number)
        for url, body in (
            ("/api/runs", f'{{"dataset_id": {n}, "codec": "jpeg"}}'),
            ("/api/runs", f'{{"dataset_id": {d}, "codec": "jpeg", "seeds": [{n}]}}'),
            ("/api/runs", f'{{"dataset_id": {d}, "codec": "jpeg", "image_ids": [{n}]}}'),
            ("/api/studies", f'{{"name": "s", "run_ids": [{n}]}}'),
            ("/api/studies", f'{{"name": "s", "run_ids": [{world.run_id}], "seed": {n}}}'),
            ("/api/studies", f'{{"name": "s", "run_ids": [{world.run_id}], "items": {n}}}'),
            (
                "/api/studies",
                f'{{"name": "s", "run_ids": [{world.run_id}], "methods": ["random"],'
                f' "quotas": {{"guided": 0, "random": {n}, "control": 0}}}}',
            ),
            ("/api/studies", f'{{"name": "s", "run_ids": [1], "per_rater_cap": {n}}}'),
            ("/api/studies", f'{{"name": "s", "run_ids": [1], "region_iou": {n}}}'),
            ("/api/studies", f'{{"name": "s", "run_ids": [1], "taxonomy_version_id": {n}}}'),
        ):
            world.json("POST", url, body.encode(), invalid=invalid, what=what)


def test_names(world: World) -> None:
    anonymous = TestClient(world.client.app, follow_redirects=False)
    d, r = world.dataset_id, world.result_id
    targets: list[Callable[[str], None]] = [
        lambda v: world.json(
            "POST", "/api/datasets", json.dumps({"name": v, "description": v}).encode(),
            invalid=False, what="dataset name",
        ),
        lambda v: world.send(
            "POST", "/datasets", invalid=False, what="dataset form",
            data={"name": v, "description": v, "source": v, "license": v,
                  "csrf_token": world.csrf},
        ),
        lambda v: world.json(
            "POST", "/api/studies",
            json.dumps({"name": v, "instructions": v, "run_ids": [world.run_id]}).encode(),
            invalid=False, what="study name",
        ),
        lambda v: world.send(
            "POST", "/studies", invalid=False, what="study form",
            data={"name": v, "instructions": v, "run_ids": str(world.run_id),
                  "csrf_token": world.csrf},
        ),
        lambda v: world.json(
            "POST", "/api/tokens", json.dumps({"name": v}).encode(), invalid=False,
            what="token name",
        ),
        lambda v: world.send(
            "POST", "/account/tokens", invalid=False, what="token form",
            data={"name": v, "csrf_token": world.csrf},
        ),
        lambda v: world.json(
            "POST", "/api/users",
            json.dumps({"username": v, "role": "annotator", "password": v + "-long-password"})
            .encode(),
            invalid=False, what="username",
        ),
        lambda v: world.send(
            "POST", "/admin/users", invalid=False, what="user form",
            data={"username": v, "role": "annotator", "password": v + "-long-password",
                  "csrf_token": world.csrf},
        ),
        lambda v: world.json(
            "POST", "/api/taxonomy/categories",
            json.dumps({"key": v, "label": v, "description": v, "shortcut": v}).encode(),
            invalid=False, what="category",
        ),
        lambda v: world.send(
            "POST", "/admin/taxonomy", invalid=False, what="taxonomy form",
            data={"base_version": "1", "key-0": v, "label-0": v, "kind-0": v,
                  "shortcut-0": v, "description-0": v, "example-0": v,
                  "csrf_token": world.csrf},
        ),
        lambda v: world.send(
            "POST", "/account/password", invalid=False, what="password form",
            data={"current_password": v, "new_password": v, "new_password_again": v,
                  "csrf_token": world.csrf},
        ),
        lambda v: world.send(
            "GET", f"/media/taxonomy/{quote(v, safe='')}.png", invalid=False,
            what="taxonomy example",
        ),
        lambda v: world.json(
            "POST", "/api/runs", json.dumps({"dataset_id": d, "codec": v}).encode(),
            invalid=False, what="codec name",
        ),
        lambda v: world.send(
            "POST", "/runs", invalid=False, what="run form codec",
            data={"dataset_id": str(d), "codec": v, "params": "{}", "csrf_token": world.csrf},
        ),
        lambda v: world.send(
            "GET", f"/api/audit?entity_type={quote(v)}", invalid=False, what="audit filter"
        ),
        lambda v: world.send(
            "GET", f"/studies/1/results/prevalence.svg?outcome={quote(v)}", invalid=False,
            what="outcome",
        ),
        lambda v: world.send(
            "GET", f"/media/assets/{quote(v, safe='')}.png", invalid=False, what="asset token"
        ),
        lambda v: world.send(
            "GET", f"/media/results/{r}/{quote(v, safe='')}.png", invalid=False,
            what="result kind",
        ),
        lambda v: world.send(
            "GET", f"/datasets/{d}/rd.{quote(v, safe='')}", invalid=False, what="figure format"
        ),
    ]  # fmt: skip
    for label, value in corpus.NAMES.items():
        for target in targets:
            try:
                target(value)
            except AssertionError:
                raise
            except Exception as exc:  # a server error raised through the test client
                world.failures.append(f"name {label}: {type(exc).__name__}: {exc}")
        status = anonymous.post(
            "/login", data={"username": value, "password": value, "csrf_token": "x"}
        ).status_code
        if status >= 500:
            world.failures.append(f"name {label}: POST /login answered {status}")


JSON_TARGETS = (
    ("POST", "/api/datasets"),
    ("POST", "/api/studies"),
    ("POST", "/api/runs"),
    ("POST", "/api/users"),
    ("PATCH", "/api/users/1"),
    ("POST", "/api/tokens"),
    ("POST", "/api/taxonomy/categories"),
    ("PUT", "/api/studies/1/adjudication/1"),
    ("POST", "/api/assignments/1/annotation"),
    ("PUT", "/api/annotations/1"),
)


def test_json_shapes(world: World) -> None:
    for label, body in corpus.json_shapes().items():
        for method, url in JSON_TARGETS:
            world.json(method, url, body, invalid=True, what=f"JSON {label}")
        # The run form's parameters field takes JSON text.
        world.send(
            "POST", "/runs", invalid=True, what=f"JSON {label} in params",
            data={"dataset_id": str(world.dataset_id), "codec": "jpeg",
                  "params": body.decode(), "csrf_token": world.csrf},
        )  # fmt: skip


def test_uploads(world: World) -> None:
    d = world.dataset_id
    manifest = b"image,reconstruction,codec,bpp\na.png,a.png,x,0.5\n"
    for name, content in corpus.uploads().items():
        what = f"upload {name}"
        world.send("POST", f"/api/datasets/{d}/imports", invalid=False, what=what,
                   files=[("files", (name, content, "application/octet-stream"))])  # fmt: skip
        world.send("POST", f"/datasets/{d}/import", invalid=False, what=what,
                   data={"csrf_token": world.csrf},
                   files=[("files", (name, content, "application/octet-stream"))])  # fmt: skip
        world.send("POST", "/admin/taxonomy", invalid=False, what=f"{what} as example crop",
                   data={"base_version": "1", "key-0": "texture", "label-0": "TEXTURE",
                         "kind-0": "category", "shortcut-0": "4", "description-0": "d",
                         "csrf_token": world.csrf},
                   files={"example_file-0": (name, content)})  # fmt: skip
        for url in ("/api/runs/import", "/runs/import"):
            # The upload as the manifest, then as the archive of a valid manifest.
            world.send("POST", url, invalid=False, what=f"{what} as manifest",
                       data={"dataset_id": str(d), "csrf_token": world.csrf},
                       files={"manifest": (name, content)})  # fmt: skip
            world.send("POST", url, invalid=False, what=f"{what} as archive",
                       data={"dataset_id": str(d), "csrf_token": world.csrf},
                       files={"manifest": ("m.csv", manifest),
                              "archive": (name, content)})  # fmt: skip
