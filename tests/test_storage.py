"""Media storage: the local folder and an S3-compatible bucket (moto's real HTTP server) pass
the same tests, both made by ``media_storage`` from the settings as every process makes them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.object_storage import S3MediaStorage
from app.storage import LocalMediaStorage, artefact_key, export_key, media_storage
from tests.s3 import S3Server

PNG_LIKE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
INVALID_KEYS = ["", "/etc/passwd", "../outside.png", "images/../../outside.png", "a/.."]


def _settings(
    backend: str, tmp_path: Path, s3_server: S3Server | None, **fields: object
) -> Settings:
    if backend == "local":
        return Settings(var_dir=tmp_path, media_root=tmp_path / "media", secret_key="x")
    assert s3_server is not None
    return Settings(
        var_dir=tmp_path,
        media_root=tmp_path / "media",
        media_url=f"s3://{s3_server.bucket}/storage-{uuid.uuid4().hex[:12]}",
        s3_endpoint_url=s3_server.endpoint_url,
        secret_key="x",
        **fields,
    )


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    server = request.getfixturevalue("s3_server") if request.param == "s3" else None
    return _settings(request.param, tmp_path, server)


def _everything_stored(settings: Settings) -> set[str]:
    """Every key stored, seen from outside the storage: files under the media root (besides
    temporary ones), or objects under the bucket's prefix."""
    bucket = settings.media_bucket
    if bucket is None:
        root = settings.media_root
        return {
            str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        }  # fmt: skip
    server = S3Server(endpoint_url=settings.s3_endpoint_url, bucket=bucket.bucket)
    return {key.removeprefix(bucket.prefix) for key in server.keys(bucket.prefix)}


def test_the_settings_choose_the_backend(settings: Settings) -> None:
    storage = media_storage(settings)
    expected = LocalMediaStorage if settings.media_url == "" else S3MediaStorage
    assert isinstance(storage, expected)
    key = artefact_key("recon", PNG_LIKE, ".png")
    where = storage.location(key)
    assert where.endswith(key)
    if settings.media_bucket is not None:
        assert where == f"{settings.media_bucket.url}{key}"


def test_what_is_put_reads_back_whole_every_way(settings: Settings) -> None:
    storage = media_storage(settings)
    key = artefact_key("recon", PNG_LIKE, ".png")
    assert not storage.exists(key)
    storage.put(key, PNG_LIKE)
    assert storage.exists(key)
    assert storage.read(key) == PNG_LIKE
    opened = storage.open(key)
    assert opened.size == len(PNG_LIKE) and b"".join(opened.chunks) == PNG_LIKE
    assert storage.local_path(key).read_bytes() == PNG_LIKE
    assert _everything_stored(settings) == {key}


def test_a_repeated_put_writes_nothing_new(settings: Settings) -> None:
    """Keys are content addresses: a worker step done twice finds its key and leaves it."""
    storage = media_storage(settings)
    key = artefact_key("maps", PNG_LIKE, ".png")
    storage.put(key, PNG_LIKE)
    storage.put(key, b"other bytes a buggy caller sent")
    assert storage.read(key) == PNG_LIKE
    assert _everything_stored(settings) == {key}


def test_nothing_stored_is_missing_every_way(settings: Settings) -> None:
    storage = media_storage(settings)
    key = artefact_key("recon", b"never stored", ".png")
    assert not storage.exists(key)
    with pytest.raises(FileNotFoundError):
        storage.read(key)
    with pytest.raises(FileNotFoundError):
        storage.open(key)
    with pytest.raises(FileNotFoundError):
        storage.local_path(key).read_bytes()
    assert _everything_stored(settings) == set()


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused_and_nothing_is_written(settings: Settings, key: str) -> None:
    storage = media_storage(settings)
    source = settings.var_dir / "finished.bin"
    source.write_bytes(PNG_LIKE)
    calls = {
        "put": lambda: storage.put(key, PNG_LIKE),
        "put_file": lambda: storage.put_file(key, source),
        "exists": lambda: storage.exists(key),
        "read": lambda: storage.read(key),
        "open": lambda: storage.open(key),
        "local_path": lambda: storage.local_path(key),
        "location": lambda: storage.location(key),
        "delete": lambda: storage.delete(key),
        "objects_under": lambda: list(storage.objects_under(key)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="invalid storage key"):
            call()
        assert _everything_stored(settings) == set(), name
    assert source.read_bytes() == PNG_LIKE  # not moved anywhere
    assert not (settings.var_dir / "outside.png").exists()


def test_a_finished_file_is_moved_in_and_replaces_the_last(settings: Settings) -> None:
    """Exports: the worker writes the file locally, then stores it under its job's key."""
    storage = media_storage(settings)
    settings.exports_dir.mkdir(parents=True, exist_ok=True)
    key = export_key("7-study.zip")
    for content in (b"first attempt", b"the redelivered task's file"):
        written = settings.exports_dir / "7-study.zip"
        written.write_bytes(content)
        storage.put_file(key, written)
        assert storage.read(key) == content
        assert b"".join(storage.open(key).chunks) == content
    assert _everything_stored(settings) == {key}
    if settings.media_bucket is not None:
        assert not (settings.exports_dir / "7-study.zip").exists()


def test_deleted_keys_are_gone_every_way_and_others_stay(settings: Settings) -> None:
    """Staged uploads are deleted once imported: the key goes (its local copy too), its
    neighbours stay, and deleting what is not there is no error."""
    storage = media_storage(settings)
    settings.exports_dir.mkdir(parents=True, exist_ok=True)
    staged = {f"staging/batch/0000{n}-a.png": bytes([n]) * 100 for n in range(2)}
    for key, data in staged.items():
        source = settings.exports_dir / "upload.bin"
        source.write_bytes(data)
        storage.put_file(key, source)
    kept = artefact_key("images", PNG_LIKE, ".png")
    storage.put(kept, PNG_LIKE)
    first, second = staged
    assert storage.local_path(first).read_bytes() == staged[first]  # a local copy on S3
    storage.delete(first)
    storage.delete(first)  # again: nothing there, no error
    storage.delete("staging/never/stored.png")
    assert not storage.exists(first)
    with pytest.raises(FileNotFoundError):
        storage.read(first)
    with pytest.raises(FileNotFoundError):
        storage.local_path(first).read_bytes()
    assert _everything_stored(settings) == {second, kept}
    storage.delete(second)
    assert _everything_stored(settings) == {kept}
    if settings.media_bucket is None:  # the emptied batch folder goes, the top one stays
        assert [p.name for p in (settings.media_root / "staging").iterdir()] == []


def test_objects_under_a_folder_are_listed_with_their_age(settings: Settings) -> None:
    storage = media_storage(settings)
    before = datetime.now(UTC) - timedelta(seconds=5)
    keys = {"staging/one/00000-a.png", "staging/one/00001-b.zip", "staging/two/00000-c.png"}
    for key in keys:
        storage.put(key, key.encode())
    storage.put("stagingx/not-under.png", b"a neighbour whose name starts the same")
    storage.put(artefact_key("images", PNG_LIKE, ".png"), PNG_LIKE)
    listed = list(storage.objects_under("staging"))
    assert {o.key for o in listed} == keys
    assert all(before <= o.modified_at <= datetime.now(UTC) + timedelta(seconds=5) for o in listed)
    assert {o.key for o in storage.objects_under("staging/two")} == {"staging/two/00000-c.png"}
    assert list(storage.objects_under("nothing-here")) == []


def test_a_file_from_another_file_system_is_moved_in_whole(settings: Settings) -> None:
    """An upload is received in a temporary folder, which may be another file system than
    the media folder (tmpfs): ``put_file`` still moves it in, whole and atomically."""
    shared_memory = Path("/dev/shm")
    assert os.stat(shared_memory).st_dev != os.stat(settings.media_root.parent).st_dev
    fd, name = tempfile.mkstemp(dir=shared_memory, prefix="miscomp-test-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(PNG_LIKE)
    storage = media_storage(settings)
    storage.put_file("staging/batch/00000-a.png", Path(name))
    assert not Path(name).exists()
    assert storage.read("staging/batch/00000-a.png") == PNG_LIKE
    assert _everything_stored(settings) == {"staging/batch/00000-a.png"}


_PUT_IN_A_CHILD = """
import json, sys
from app.config import Settings
from app.storage import media_storage
args = json.loads(sys.argv[1])
storage = media_storage(Settings(**args["settings"]))
data = bytes(range(256)) * (args["size"] // 256)
print("writing", flush=True)
storage.put(args["key"], data)
print("done", flush=True)
"""


def test_a_crash_in_the_middle_of_a_put_leaves_no_partial_file(settings: Settings) -> None:
    """A process killed while it writes leaves the key absent, never holding part of it."""
    storage = media_storage(settings)
    size = 64 * 1024 * 1024
    data = bytes(range(256)) * (size // 256)
    fields = settings.model_dump(mode="json", include={"var_dir", "media_root", "media_url"})
    fields |= {"s3_endpoint_url": settings.s3_endpoint_url, "secret_key": "x"}
    for attempt in range(3):
        key = f"crash/{attempt}.bin"
        args = json.dumps({"settings": fields, "size": size, "key": key})
        child = subprocess.Popen(
            [sys.executable, "-c", _PUT_IN_A_CHILD, args],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        assert not storage.exists(key) or storage.read(key) == data
        if child.returncode == -signal.SIGKILL:
            break  # interrupted in the middle, as wanted
    else:
        pytest.fail("every put finished before it could be interrupted")
    assert storage.exists(key) is False, "an interrupted put stored nothing"


def test_local_copies_of_bucket_objects_stay_within_their_budget(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """``local_path`` gives files from a cache under the var folder that never grows past
    MISCOMP_MEDIA_CACHE_BYTES: the least recently used copies go first."""
    settings = _settings("s3", tmp_path, s3_server, media_cache_bytes=2500)
    storage = media_storage(settings)
    blobs = {f"crops/{n}.png": bytes([n]) * 1000 for n in range(4)}
    for key, data in blobs.items():
        storage.put(key, data)
    paths = [storage.local_path(key) for key in ("crops/0.png", "crops/1.png")]
    assert all(p.is_relative_to(settings.media_cache_dir) for p in paths)
    assert storage.local_path("crops/0.png") == paths[0]  # used again: the most recent
    storage.local_path("crops/2.png")
    cached = [p for p in settings.media_cache_dir.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in cached) <= 2500
    assert not paths[1].exists(), "the least recently used copy went"
    assert paths[0].read_bytes() == blobs["crops/0.png"]
    assert storage.local_path("crops/1.png").read_bytes() == blobs["crops/1.png"]  # again


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://bucket/media", "must be s3://BUCKET"),
        ("s3://", "is not an S3 bucket name"),
        ("s3://Media_Bucket/x", "is not an S3 bucket name"),
        ("s3://bucket/a/../b", "prefix folder '..'"),
        ("s3://bucket/a b", "prefix folder 'a b'"),
    ],
)
def test_a_malformed_media_url_stops_the_process_at_start(url: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Settings(media_url=url, secret_key="x")


def test_a_media_url_names_the_bucket_and_prefix() -> None:
    settings = Settings(media_url="s3://lab-media/miscomp//prod/", secret_key="x")
    assert settings.media_bucket is not None
    assert (settings.media_bucket.bucket, settings.media_bucket.prefix) == (
        "lab-media",
        "miscomp/prod/",
    )
    assert Settings(secret_key="x").media_bucket is None
