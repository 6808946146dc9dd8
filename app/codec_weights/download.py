"""Download one catalogued weights file into the weights folder: resumable, verified, atomic.

The bytes go to ``NAME.part`` beside the file's place; a second attempt asks the server for
the rest with a ``Range`` request and appends. Only once the whole file's sha256 agrees with
the catalogue (``app/domain/codecs/catalogue.py``) is the part renamed into place, so a codec
never sees a partial or unverified file; a mismatch deletes the part and refuses. Standard
library only (``urllib``): the platform's one downloader, run by the CLI or a worker, never
by the web process.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from app.domain.codecs.catalogue import (
    PUBLISHER_NAMES,
    CatalogueError,
    OperatorCatalogue,
    WeightsFile,
)
from app.domain.codecs.learned import sha256_of
from app.domain.codecs.operator import OutsideFolder, resolve_in_folder
from app.errors import Conflict, UserError

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 30.0
PART_SUFFIX = ".part"
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

Progress = Callable[[int, int | None], None]
"""Called with the bytes of the file held so far and its size (None while unknown)."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size: int
    resumed_from: int
    """Bytes a previous attempt had kept (0: downloaded whole)."""
    already_present: bool = False


def target_path(weights: WeightsFile, weights_dir: Path) -> Path:
    try:
        return resolve_in_folder(weights_dir, weights.path)
    except OutsideFolder as exc:
        raise UserError(f"{weights.file_name}: {exc}") from None


def is_present(weights: WeightsFile, weights_dir: Path) -> bool:
    return target_path(weights, weights_dir).is_file()


def fetch_file(
    weights: WeightsFile,
    weights_dir: Path,
    catalogue: OperatorCatalogue,
    *,
    progress: Progress | None = None,
    timeout_s: float = TIMEOUT_S,
) -> Fetched:
    """Fetch ``weights`` (or resume its part file) into ``weights_dir``; a file already in
    place is verified, not fetched again. Raises UserError with what to do."""
    try:
        expected = catalogue.expected_sha256(weights)
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    target = target_path(weights, weights_dir)
    present = _verified_present(target, expected)
    if present is not None:
        return present
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + PART_SUFFIX)
    with _locked(part) as handle:
        present = _verified_present(target, expected)  # another fetch finished meanwhile
        if present is not None:
            return present
        offset = handle.seek(0, os.SEEK_END)
        try:
            size = _download(catalogue.url(weights), weights, handle, offset, progress, timeout_s)
        except UserError:
            if handle.tell() == 0:  # nothing came: leave no empty part behind
                part.unlink(missing_ok=True)
            raise
        handle.flush()
        os.fsync(handle.fileno())
        actual = sha256_of(part)
        if not actual.startswith(expected):
            part.unlink()
            raise UserError(
                f"{weights.file_name}: the downloaded file's sha256 {actual[:16]}... is not "
                f"the expected {expected[:16]}...; it was deleted and nothing was kept "
                f"(a corrupt download or a changed file at {catalogue.url(weights)})"
            )
        os.replace(part, target)
    return Fetched(target, actual, size, resumed_from=offset)


def _verified_present(target: Path, expected: str) -> Fetched | None:
    if not target.is_file():
        return None
    actual = sha256_of(target)
    if not actual.startswith(expected):
        raise Conflict(
            f"{target} is already there, but its sha256 {actual[:16]}... is not the expected "
            f"{expected[:16]}...: remove or rename it, then fetch again"
        )
    return Fetched(target, actual, target.stat().st_size, resumed_from=0, already_present=True)


@contextlib.contextmanager
def _locked(part: Path) -> Iterator[IO[bytes]]:
    """The part file, opened for appending and locked: two fetches of one file (the CLI and
    a worker sharing the folder) would interleave their bytes."""
    with part.open("ab+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"{part.name[: -len(PART_SUFFIX)]} is being fetched already") from None
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _download(
    url: str,
    weights: WeightsFile,
    handle: IO[bytes],
    offset: int,
    progress: Progress | None,
    timeout_s: float,
) -> int:
    """Append the rest of the file from ``offset`` to ``handle``; the file's size."""
    response = _open(url, weights, offset, timeout_s)
    if response is None:  # 416: the server has nothing after what the part holds
        return offset
    with response:
        total: int | None = None
        length = response.headers.get("Content-Length")
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise UserError(
                    f"{urlsplit(url).hostname} answered a resumed download of "
                    f"{weights.file_name} with another range; delete the .part file to start over"
                )
            total = None if match.group(3) == "*" else int(match.group(3))
        else:  # 200: the whole file (a server that ignores Range starts over)
            handle.seek(0)
            handle.truncate()
            offset = 0
            total = int(length) if length and length.isdigit() else None
        done = offset
        if progress:
            progress(done, total)
        try:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        except (http.client.IncompleteRead, OSError) as exc:
            handle.flush()
            raise _cut(url, weights, done, total, exc) from None
        if total is not None and done < total:
            handle.flush()
            raise _cut(url, weights, done, total, None)
    return done


def _cut(
    url: str, weights: WeightsFile, done: int, total: int | None, exc: BaseException | None
) -> UserError:
    of = f" of {total:,}" if total is not None else ""
    why = f" ({type(exc).__name__})" if exc is not None else ""
    return UserError(
        f"the connection to {urlsplit(url).hostname} was cut after {done:,}{of} bytes of "
        f"{weights.file_name}{why}; the part is kept: fetch again to resume"
    )


def _open(url: str, weights: WeightsFile, offset: int, timeout_s: float) -> Any:
    headers = {"User-Agent": "miscomp-codecs-fetch"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    host = urlsplit(url).hostname
    try:
        return urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout_s
        )
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        raise UserError(
            f"{host} answered HTTP {exc.code} ({exc.reason}) for {url}: "
            f"{PUBLISHER_NAMES[weights.publisher]} does not serve {weights.file_name} there"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise UserError(
            f"cannot reach {host} ({reason}): this machine cannot reach the publisher. Fetch "
            f"on a machine that can and copy {weights.file_name} into the weights folder, or "
            f"point [publishers] in the weights catalogue file (MISCOMP_WEIGHTS_CATALOGUE) "
            f"at a mirror this machine reaches"
        ) from None
