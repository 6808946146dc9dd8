"""Media in an S3-compatible bucket (``MISCOMP_MEDIA_URL=s3://BUCKET/prefix``), the same
interface as the local folder (``storage.MediaStorage``).

Atomicity comes from S3 itself: a PUT (or the completion of a multipart upload) makes the
whole object visible at once, never part of it, so a crash leaves nothing under a valid key.
Keys are content addresses, so a key that exists already holds the bytes a repeated step
would write: ``put`` asks first (a HEAD) and uploads nothing new.

``local_path`` gives a file for code that needs one (a zip writer, a program): a copy in a
local cache under the var folder, downloaded beside its place and renamed into it, and kept
while the cache stays under ``MISCOMP_MEDIA_CACHE_BYTES`` (least recently used copies go
first). A content-addressed key never changes, so a cached copy is always right.

boto3 is imported here only, and this module only when the bucket is configured
(``storage.media_storage``): the web process on a local folder never loads it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.domain.media_url import S3Location
from app.storage import CHUNK_BYTES, TEMPORARY_PREFIX, StoredObject, StoredStream, key_parts

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class S3MediaStorage:
    def __init__(
        self, bucket: S3Location, *, endpoint_url: str, cache_dir: Path, cache_bytes: int
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        # A session of its own: boto3's default session is not safe to create clients from
        # in several threads at once (the web answers from a thread pool).
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=Config(
                retries={"mode": "standard"},
                max_pool_connections=50,
                # S3-compatible servers (MinIO, Ceph) answer at one host, bucket in the path.
                s3={"addressing_style": "path" if endpoint_url else "auto"},
            ),
        )
        self._cache = cache_dir.joinpath(bucket.bucket, *bucket.prefix.split("/")[:-1])
        self._cache_bytes = cache_bytes

    def _object_key(self, key: str) -> str:
        return self.bucket.prefix + "/".join(key_parts(key))

    def put(self, key: str, data: bytes) -> None:
        if self.exists(key):
            return  # content-addressed: same key, same bytes
        self._client.put_object(Bucket=self.bucket.bucket, Key=self._object_key(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        # upload_file goes multipart for large files; the object appears only when the
        # upload completes.
        self._client.upload_file(str(path), self.bucket.bucket, self._object_key(key))
        path.unlink()

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket.bucket, Key=self._object_key(key))
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def _get(self, key: str) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self._client.get_object(
                Bucket=self.bucket.bucket, Key=self._object_key(key)
            )
        except Exception as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"nothing stored under {self.location(key)}") from None
            raise
        return response

    def read(self, key: str) -> bytes:
        body = self._get(key)["Body"]
        with body:
            return bytes(body.read())

    def open(self, key: str) -> StoredStream:
        response = self._get(key)
        return StoredStream(
            size=int(response["ContentLength"]), chunks=_body_chunks(response["Body"])
        )

    def local_path(self, key: str) -> Path:
        path = self._cache.joinpath(*key_parts(key))
        if path.is_file():
            _mark_used(path)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in self.open(key).chunks:
                    handle.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _mark_used(path)
        self._evict(keep=path)
        return path

    def location(self, key: str) -> str:
        return f"s3://{self.bucket.bucket}/{self._object_key(key)}"

    def delete(self, key: str) -> None:
        # S3 answers a DELETE of a missing key with success, as the local folder does.
        self._client.delete_object(Bucket=self.bucket.bucket, Key=self._object_key(key))
        self._cache.joinpath(*key_parts(key)).unlink(missing_ok=True)

    def objects_under(self, folder: str) -> Iterator[StoredObject]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket.bucket, Prefix=self._object_key(folder) + "/"
        )
        for page in pages:
            for entry in page.get("Contents", []):
                yield StoredObject(
                    key=entry["Key"].removeprefix(self.bucket.prefix),
                    modified_at=entry["LastModified"],
                )

    def _evict(self, *, keep: Path) -> None:
        """Delete the least recently used copies until the cache fits its budget (``keep``,
        the copy just made, stays even if it alone is larger). Copies another process is
        reading stay readable: it holds the file open."""
        copies = list(_cached_files(self._cache))
        total = sum(size for _, size, _ in copies)
        for _, size, path in sorted(copies):
            if total <= self._cache_bytes:
                return
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size


def _mark_used(path: Path) -> None:
    """Its last use, the eviction order: set from the fine clock, since the file system's
    own timestamps are coarse (copies made in the same few milliseconds would tie)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in _MISSING_CODES


def _body_chunks(body: Any) -> Iterator[bytes]:
    with body:
        yield from body.iter_chunks(CHUNK_BYTES)


def _cached_files(folder: Path) -> Iterator[tuple[float, int, Path]]:
    """(last use, size, path) of every finished copy under ``folder``; files that another
    process removes meanwhile are skipped."""
    for parent, _, files in os.walk(folder):
        for name in files:
            if name.startswith(TEMPORARY_PREFIX):
                continue
            path = Path(parent, name)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            yield stat.st_mtime, stat.st_size, path
