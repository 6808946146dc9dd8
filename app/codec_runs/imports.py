"""Runs of reconstructions made elsewhere, imported from a manifest (app/domain/manifest.py).

The whole manifest is validated before anything is stored: every row must name an image of
the dataset, and its reconstruction must be a readable 8-bit RGB image of exactly the
original's size. One bad row refuses the import, listing every problem, so a half-imported
benchmark never enters an analysis. Accepted rows become results with bits "reported", which
the post-processing queue measures like any other codec's.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.codec_runs import task_names
from app.codec_runs.models import CodecResult, CodecRun
from app.codec_runs.schemas import ALL_MAPS
from app.config import Settings, get_settings
from app.datasets import service as dataset_service
from app.datasets.models import Dataset, Image
from app.domain import png
from app.domain.codecs.base import RGB8, BitsSource
from app.domain.manifest import ManifestError, ManifestRow, parse_manifest
from app.domain.sources import Limits, SourceFile, SourceRejected, iter_zip
from app.errors import InvalidInput
from app.jobs import enqueue_after_commit
from app.storage import MediaStorage, artefact_key, media_storage
from app.uploads import archive_limits, stage_upload, staging_dir_for
from app.users.models import User

MAX_PROBLEMS_SHOWN = 50


def _find_image(session: Session, dataset: Dataset, reference: str) -> Image | None:
    return session.scalars(
        select(Image)
        .where(
            Image.dataset_id == dataset.id,
            or_(
                Image.filename == reference,
                Image.source_sha256 == reference.lower(),
                Image.pixels_sha256 == reference.lower(),
            ),
        )
        .order_by(Image.id)
        .limit(1)
    ).first()


def _read_reconstruction(row: ManifestRow, image: Image) -> tuple[RGB8, str | None]:
    try:
        with PILImage.open(row.reconstruction) as handle:
            handle.load()
            mode, size = handle.mode, handle.size
            pixels = np.asarray(handle.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        return np.empty(0, dtype=np.uint8), f"{row.reconstruction} does not exist"
    except (UnidentifiedImageError, OSError) as exc:
        return np.empty(0, dtype=np.uint8), f"{row.reconstruction} is not a readable image: {exc}"
    if mode != "RGB":
        return pixels, f"{row.reconstruction} is {mode}; expected 8-bit RGB"
    if size != (image.width, image.height):
        return pixels, (
            f"{row.reconstruction} is {size[0]}x{size[1]}, the original "
            f"{image.filename} is {image.width}x{image.height}"
        )
    return pixels, None


def import_manifest(
    session: Session,
    storage: MediaStorage,
    dataset: Dataset,
    manifest: Path,
    *,
    match_jpeg: bool = True,
    actor: User | None = None,
) -> list[CodecRun]:
    try:
        rows = parse_manifest(manifest)
    except ManifestError as exc:
        raise InvalidInput(str(exc)) from None
    problems: list[str] = []
    accepted: list[tuple[ManifestRow, Image, RGB8]] = []
    seen: set[tuple[int, str, str, int]] = set()
    for row in rows:
        image = _find_image(session, dataset, row.image)
        if image is None:
            problems.append(f"row {row.line}: no image {row.image!r} in dataset {dataset.name!r}")
            continue
        identity = (image.id, row.codec, json.dumps(row.params, sort_keys=True), row.seed)
        if identity in seen:
            problems.append(
                f"row {row.line}: a second reconstruction of {image.filename} "
                f"for the same codec, parameters and seed"
            )
            continue
        seen.add(identity)
        pixels, problem = _read_reconstruction(row, image)
        if problem:
            problems.append(f"row {row.line}: {problem}")
            continue
        accepted.append((row, image, pixels))
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        raise InvalidInput(
            "manifest refused, nothing imported: "
            + "; ".join(shown)
            + (f"; and {more} more" if more else "")
        )

    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    groups: dict[tuple[str, str], list[tuple[ManifestRow, Image, RGB8]]] = defaultdict(list)
    for entry in accepted:
        groups[(entry[0].codec, json.dumps(entry[0].params, sort_keys=True))].append(entry)
    runs = []
    for (label, params_json), entries in groups.items():
        run = CodecRun(
            dataset_id=dataset.id,
            codec="imported",
            params={
                "label": label,
                "params": json.loads(params_json),
                "manifest": str(manifest.resolve()),
                "manifest_sha256": digest,
            },
            seeds=sorted({row.seed for row, _, _ in entries}),
            image_ids=sorted({image.id for _, image, _ in entries}),
            match_jpeg=match_jpeg,
            jpeg_params={},
            maps=list(ALL_MAPS),
            queue="post",
            status="running",
            created_by_id=actor.id if actor else None,
        )
        session.add(run)
        session.flush()
        for row, image, pixels in entries:
            encoded = png.encode(pixels)
            key = artefact_key("recon", encoded, ".png")
            storage.put(key, encoded)
            bits = row.bits(image.width, image.height)
            result = CodecResult(
                run_id=run.id,
                image_id=image.id,
                seed=row.seed,
                status="encoded",
                recon_key=key,
                bits=bits,
                bpp=bits / (image.width * image.height),
                bits_source=BitsSource.REPORTED.value,
                device="elsewhere",
                environment={"imported_from": str(row.reconstruction), "manifest_line": row.line},
                metrics={},
                maps={},
                notes=[],
                jpeg_metrics={},
                attempts=0,
            )
            session.add(result)
            session.flush()
            enqueue_after_commit(session, task_names.POSTPROCESS, result.id)
        runs.append(run)
    return runs


def import_uploaded_manifest(
    session: Session,
    storage: MediaStorage,
    settings: Settings,
    dataset: Dataset,
    *,
    manifest_name: str,
    manifest: BinaryIO,
    archive: BinaryIO | None,
    match_jpeg: bool = True,
    actor: User | None = None,
) -> list[CodecRun]:
    """The API's form of an import: the manifest and a zip of the reconstructions it names
    (paths inside the zip, as relative paths in the manifest). The zip is read with the same
    limits as image imports; nothing of it stays on disk afterwards."""
    suffix = Path(manifest_name).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InvalidInput(f"manifest {manifest_name!r}: expected a .csv or .json file")
    staging = staging_dir_for(settings)
    try:
        manifest_path = stage_upload(
            staging, 0, f"manifest{suffix}", manifest, max_bytes=settings.max_upload_bytes
        )
        if archive is not None:
            zip_path = stage_upload(
                staging, 1, "reconstructions.zip", archive, max_bytes=settings.max_upload_bytes
            )
            _unpack(Path(zip_path.path), staging / "files", archive_limits(settings))
        return import_manifest(
            session,
            storage,
            dataset,
            _rebased(Path(manifest_path.path), staging / "files"),
            match_jpeg=match_jpeg,
            actor=actor,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def import_uploads(
    session: Session,
    dataset_id: int,
    *,
    manifest_name: str,
    manifest: BinaryIO,
    archive: BinaryIO | None,
    match_jpeg: bool = True,
    actor: User | None = None,
) -> list[CodecRun]:
    """:func:`import_uploaded_manifest` with the configured media storage (web and API)."""
    settings = get_settings()
    return import_uploaded_manifest(
        session,
        media_storage(settings),
        settings,
        dataset_service.get_dataset(session, dataset_id),
        manifest_name=manifest_name,
        manifest=manifest,
        archive=archive,
        match_jpeg=match_jpeg,
        actor=actor,
    )


def _unpack(archive: Path, target: Path, limits: Limits) -> None:
    problems = []
    for item in iter_zip(archive, limits):
        if isinstance(item, SourceFile):
            path = target.joinpath(*PurePosixPath(item.name.replace("\\", "/")).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.data)
        elif isinstance(item, SourceRejected):
            problems.append(f"{item.name}: {item.reason}")
    if problems:
        raise InvalidInput("reconstructions archive refused: " + "; ".join(problems[:20]))


def _rebased(manifest: Path, files: Path) -> Path:
    """Put the manifest beside the unpacked files, so its relative paths resolve there."""
    files.mkdir(parents=True, exist_ok=True)
    moved = files / manifest.name
    shutil.move(manifest, moved)
    return moved
