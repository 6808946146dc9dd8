"""Dataset and image pages: a paginated thumbnail grid, image detail with provenance, and
media served byte for byte."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.config import get_settings
from app.datasets.models import Image
from app.domain.roles import Role
from app.storage import LocalMediaStorage
from tests.conftest import login
from tests.factories import image_bytes, make_dataset, make_user, store_image


def _add_images(db: Session, dataset_id: int, count: int) -> list[Image]:
    images = [
        store_image(db, dataset_id, PILImage.open(io.BytesIO(image_bytes())), f"img-{i:03d}.png")
        for i in range(count)
    ]
    db.commit()
    return images


def test_grid_is_paginated_and_htmx_gets_only_the_grid(client: TestClient, db: Session) -> None:
    researcher = make_user(db, Role.RESEARCHER)
    dataset = make_dataset(db, "grid")
    _add_images(db, dataset.id, 65)
    login(client, researcher)

    first = client.get(f"/datasets/{dataset.id}")
    assert "Page 1 of 2" in first.text and first.text.count('loading="lazy"') == 60
    second = client.get(f"/datasets/{dataset.id}?page=2", headers={"HX-Request": "true"})
    assert second.text.count('loading="lazy"') == 5
    assert "<html" not in second.text and 'id="image-grid"' in second.text
    assert "img-064.png" in second.text
    api = client.get(f"/api/datasets/{dataset.id}/images", params={"offset": 60, "limit": 10})
    assert api.json()["total"] == 65
    assert [i["filename"] for i in api.json()["items"]] == [
        f"img-{i:03d}.png" for i in range(60, 65)
    ]


def test_image_detail_shows_provenance_and_serves_exact_pixels(
    client: TestClient, db: Session
) -> None:
    admin = make_user(db, Role.ADMIN)
    dataset = make_dataset(db, "detail", license="CC-BY-SA 4.0, photo by A. Person")
    (image,) = _add_images(db, dataset.id, 1)
    login(client, admin)
    page = client.get(f"/images/{image.id}").text
    assert f"{image.width} × {image.height} px" in page
    assert image.source_sha256 in page and image.pixels_sha256 in page
    assert "CC-BY-SA 4.0, photo by A. Person" in page
    pixels = client.get(f"/media/images/{image.id}/pixels.png")
    stored = LocalMediaStorage(get_settings().media_root).read(image.storage_key)
    assert pixels.content == stored
    assert pixels.headers["content-type"] == "image/png"
    assert "immutable" in pixels.headers["cache-control"]
    thumb = client.get(f"/media/images/{image.id}/thumbnail.jpg")
    assert thumb.headers["content-type"] == "image/jpeg"


def test_create_dataset_form_keeps_input_on_error(client: TestClient, db: Session) -> None:
    admin = make_user(db, Role.ADMIN)
    make_dataset(db, "taken")
    db.commit()
    csrf = login(client, admin)
    response = client.post(
        "/datasets", data={"name": "taken", "description": "my words", "csrf_token": csrf}
    )
    assert response.status_code == 409
    assert "already exists" in response.text
    assert re.search(r"<textarea[^>]*>my words</textarea>", response.text)
