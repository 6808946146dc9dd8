"""Small typed factories for test data, and image bytes of every kind users throw at us."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.config import get_settings
from app.datasets import service as dataset_service
from app.datasets.models import Dataset
from app.datasets.models import Image as StoredImage
from app.datasets.schemas import DatasetCreate
from app.domain.images import decode_image, thumbnail_jpeg
from app.domain.roles import Role
from app.storage import image_key, media_storage, thumbnail_key
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


def store_image(
    session: Session, dataset_id: int, picture: Image.Image, filename: str
) -> StoredImage:
    """An image stored as an import stores it (lossless PNG and thumbnail), without the
    import machinery: for tests that need images in a dataset."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    decoded = decode_image(buffer.getvalue(), max_pixels=50_000_000)
    storage = media_storage(get_settings())
    key = image_key(decoded.pixels_sha256)
    thumb = thumbnail_key(decoded.pixels_sha256, 256)
    storage.put(key, decoded.png_bytes())
    storage.put(thumb, thumbnail_jpeg(decoded.rgb, max_side=256))
    image = StoredImage(
        dataset_id=dataset_id,
        filename=filename,
        source_sha256=decoded.source_sha256,
        pixels_sha256=decoded.pixels_sha256,
        width=decoded.width,
        height=decoded.height,
        format="PNG",
        original_mode=decoded.original_mode,
        source_bytes=len(buffer.getvalue()),
        storage_key=key,
        thumbnail_key=thumb,
        notes=[],
    )
    session.add(image)
    session.flush()
    return image


def make_run(session: Session, dataset_id: int, **fields: Any) -> CodecRun:
    """A codec run row (no worker runs it): a JPEG run unless ``fields`` say otherwise."""
    run = CodecRun(
        dataset_id=dataset_id,
        **{"codec": "jpeg", "params": {"quality": 20}, "seeds": [0], "status": "done", **fields},
    )
    session.add(run)
    session.flush()
    return run


def make_result(session: Session, run: CodecRun, image: StoredImage, **fields: Any) -> CodecResult:
    """A finished result of ``run`` on ``image`` whose reconstruction is the stored image
    itself (so its files are served), with the metrics and bpp given in ``fields``."""
    values: dict[str, Any] = {
        "seed": 0,
        "status": "done",
        "recon_key": image.storage_key,
        "metrics": {},
        "maps": {},
        "jpeg_metrics": {},
        **fields,
    }
    result = CodecResult(run_id=run.id, image_id=image.id, **values)
    session.add(result)
    session.flush()
    return result


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


def declare_external_codecs(path: Path, declarations: dict[str, dict[str, Any]]) -> Path:
    """Write the operator's command-line codec declarations as the TOML file
    MISCOMP_EXTERNAL_CODECS names (one table per codec); returns ``path``."""

    def toml_value(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(toml_value(v) for v in value) + "]"
        if isinstance(value, bool):
            return "true" if value else "false"
        # JSON's strings and numbers are valid TOML basic strings and numbers.
        return json.dumps(value)

    lines = []
    for name, fields in declarations.items():
        lines.append(f"[{json.dumps(name)}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in fields.items())
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
