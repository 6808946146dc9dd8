"""What the codec-run page tests share."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy.orm import Session

from app.domain.roles import Role
from tests.conftest import login
from tests.factories import image_bytes, make_dataset, make_user, store_image


def admin_with_dataset(client: TestClient, db: Session) -> tuple[str, int]:
    """An admin logged in on ``client`` (their CSRF token) and a dataset of one image."""
    admin = make_user(db, Role.ADMIN)
    dataset = make_dataset(db)
    store_image(db, dataset.id, PILImage.open(io.BytesIO(image_bytes())), "a.png")
    db.commit()
    return login(client, admin), dataset.id
