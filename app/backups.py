"""Backups of a PostgreSQL deployment: the database as ``pg_dump -Fc`` and the media folder as
a tar, with a manifest of their sizes and sha256 (``miscomp backup create`` / ``restore``,
docs/deployment.md).

A restore checks every checksum before it touches anything, and goes only into an empty
database and an empty media folder unless forced: restoring over live data by mistake would
mix two installations. The database is restored in one transaction, so a failure leaves it as
it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from app.db import utcnow
from app.errors import Conflict, InvalidInput, UserError

DATABASE_FILE = "database.dump"
MEDIA_FILE = "media.tar"
MANIFEST_FILE = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class Summary:
    folder: Path
    database_bytes: int
    media_files: int


def create(database_url: str, media_root: Path, folder: Path, *, media: bool = True) -> Summary:
    """Write a backup into ``folder`` (new, or empty)."""
    url = _postgres_url(database_url)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise Conflict(f"{folder} is not an empty folder; choose a new one")
    folder.mkdir(parents=True, exist_ok=True)
    _run(
        "pg_dump",
        ["--format=custom", "--no-owner", "--no-privileges", f"--file={folder / DATABASE_FILE}"],
        url,
    )
    files = [DATABASE_FILE]
    media_files = 0
    if media:
        media_files = _tar_media(media_root, folder / MEDIA_FILE)
        files.append(MEDIA_FILE)
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(),
        "schema_revision": _schema_revision(url),
        "media_files": media_files if media else None,
        "files": {name: _digest(folder / name) for name in files},
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return Summary(folder, (folder / DATABASE_FILE).stat().st_size, media_files)


def restore(database_url: str, media_root: Path, folder: Path, *, force: bool = False) -> Summary:
    """Restore the backup in ``folder`` into the database and the media folder."""
    url = _postgres_url(database_url)
    has_media = MEDIA_FILE in verified_files(folder)
    if not force:
        tables = _table_count(url)
        if tables:
            raise Conflict(
                f"the database {url.database} is not empty ({tables} tables); restore into a new "
                "one (createdb), or give --force to replace what it holds"
            )
        if has_media and media_root.exists() and any(media_root.iterdir()):
            raise Conflict(
                f"the media folder {media_root} is not empty; restore into an empty one, or "
                "give --force to replace what it holds"
            )
    options = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
    if force:
        options += ["--clean", "--if-exists"]
    _run("pg_restore", [*options, str(folder / DATABASE_FILE)], url, database_option=True)
    media_files = 0
    if has_media:
        if media_root.exists():
            shutil.rmtree(media_root)
        media_root.mkdir(parents=True)
        with tarfile.open(folder / MEDIA_FILE) as archive:
            members = archive.getmembers()
            archive.extractall(media_root, filter="data")
        media_files = sum(1 for member in members if member.isfile())
    return Summary(folder, (folder / DATABASE_FILE).stat().st_size, media_files)


def verified_files(folder: Path) -> list[str]:
    """The files the backup's manifest lists, once each has its recorded size and sha256."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{folder} holds no readable {MANIFEST_FILE}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInput(f"{folder / MANIFEST_FILE} is not a backup manifest of this version")
    files = manifest.get("files")
    if not isinstance(files, dict) or DATABASE_FILE not in files:
        raise InvalidInput(f"{folder / MANIFEST_FILE} lists no {DATABASE_FILE}")
    for name, recorded in files.items():
        if name not in (DATABASE_FILE, MEDIA_FILE):
            raise InvalidInput(f"{folder / MANIFEST_FILE} lists an unknown file {name!r}")
        path = folder / name
        if not path.is_file() or _digest(path) != recorded:
            raise InvalidInput(f"{path} is missing or changed since the backup (checksum differs)")
    return list(files)


def _postgres_url(database_url: str) -> URL:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise InvalidInput(
            "backups need PostgreSQL; the embedded SQLite database is backed up by stopping the "
            "platform and copying its var/ folder"
        )
    return url


def _tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` from PATH, else from Debian's versioned folders (newest)."""
    found = shutil.which(name)
    if found:
        return found
    versioned = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not versioned:
        raise UserError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return str(versioned[-1])


def _run(tool: str, arguments: list[str], url: URL, *, database_option: bool = False) -> None:
    """Run a PostgreSQL client with the connection in libpq's environment (a password never
    appears in the process list)."""
    environment = {**os.environ, "PGDATABASE": url.database or ""}
    for variable, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
    ):
        if value is not None:
            environment[variable] = str(value)
    database = [f"--dbname={url.database}"] if database_option else []
    finished = subprocess.run(
        [_tool(tool), *database, *arguments], env=environment, capture_output=True, text=True
    )
    if finished.returncode != 0:
        detail = finished.stderr.strip().splitlines()
        raise UserError(f"{tool} failed: {detail[-1] if detail else finished.returncode}")


def _table_count(url: URL) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.scalar(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            )
    finally:
        engine.dispose()
    return int(count or 0)


def _schema_revision(url: URL) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
            return None if revision is None else str(revision)
    finally:
        engine.dispose()


def _tar_media(media_root: Path, target: Path) -> int:
    """Every file under the media folder, in name order, uncompressed (images are PNG and
    JPEG already)."""
    count = 0
    with tarfile.open(target, "w") as archive:
        if media_root.is_dir():
            for path in sorted(media_root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    archive.add(path, arcname=str(path.relative_to(media_root)))
                    count += 1
    return count


def _digest(path: Path) -> dict[str, object]:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": sha.hexdigest()}
