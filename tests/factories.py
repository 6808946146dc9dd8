"""Small typed factories for test data, and image bytes of every kind users throw at us."""

from __future__ import annotations

import io
import itertools
import zipfile

from PIL import Image
from sqlalchemy.orm import Session

from app.datasets import service as dataset_service
from app.datasets.models import Dataset
from app.datasets.schemas import DatasetCreate
from app.domain.roles import Role
from app.users import service as user_service
from app.users.models import User
from app.users.schemas import UserCreate

DEFAULT_PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def make_user(
    session: Session,
    role: Role = Role.ADMIN,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
) -> User:
    name = username or f"{role.value}{next(_counter)}"
    return user_service.create_user(
        session, UserCreate(username=name, role=role, password=password)
    )


def make_dataset(session: Session, name: str | None = None, **fields: str) -> Dataset:
    data = DatasetCreate(name=name or f"dataset-{next(_counter)}", **fields)
    return dataset_service.create_dataset(session, data, actor=None)


def image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (32, 24),
    mode: str = "RGB",
    colour: object = None,
    **save: object,
) -> bytes:
    """A small image with varied pixels (so that two calls with different seeds differ)."""
    seed = next(_counter)
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 7 + seed) % 256, (y * 11) % 256, (x * y + seed * 3) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    if colour is not None:
        image = Image.new("RGB", size, colour)  # type: ignore[arg-type]
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()
