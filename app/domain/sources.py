"""Where imported files come from: a folder, a zip archive, or single uploads.

Each source yields one :class:`SourceFile` per candidate file, or a :class:`SourceRejected`
saying why a member was refused (path traversal, symlink, nested archive, oversized ...).
Nothing here writes anywhere: it only reads, with hard limits, so hostile archives cannot
fill the disk or escape the media root.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.domain import names

ARCHIVE_SUFFIXES = (
    ".zip",
    ".tar",
    ".tgz",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".7z",
    ".rar",
    ".lz",
    ".lzma",
    ".jar",
)
_ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x28\xb5\x2f\xfd",
)
_SKIPPED_DIRS = ("__MACOSX",)


@dataclass(frozen=True)
class SourceFile:
    name: str
    data: bytes


@dataclass(frozen=True)
class SourceRejected:
    name: str
    reason: str


@dataclass(frozen=True)
class SourceSkipped:
    name: str
    reason: str


SourceItem = SourceFile | SourceRejected | SourceSkipped


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_total_bytes: int
    max_members: int


def looks_like_archive(name: str, head: bytes) -> bool:
    return (
        name.lower().endswith(ARCHIVE_SUFFIXES)
        or head.startswith(_ARCHIVE_MAGIC)
        or (len(head) > 262 and head[257:262] == b"ustar")
    )


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member's path is unsafe to honour, or None when it is fine."""
    if not name or "\x00" in name:
        return "empty or NUL-containing path"
    return unsafe_name_reason(name) or _traversal_reason(name)


def unsafe_name_reason(name: str) -> str | None:
    """Why a file's name cannot be a stored image's name: control characters or characters
    that reorder the text around them (a U+202E makes "gnp.exe" show as "exe.png")."""
    bad = names.forbidden_characters(name)
    if bad:
        return f"file name holds control or bidirectional characters ({', '.join(bad)}); rename it"
    return None


def _traversal_reason(name: str) -> str | None:
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return "absolute path refused"
    if ".." in PurePosixPath(normalised).parts:
        return "path with '..' refused (path traversal)"
    return None


def _is_hidden(relative: str) -> bool:
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    return any(p.startswith(".") or p in _SKIPPED_DIRS for p in parts)


def iter_zip(path: Path, limits: Limits, *, display_prefix: str = "") -> Iterator[SourceItem]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        yield SourceRejected(display_prefix or path.name, f"not a readable zip archive: {exc}")
        return
    total = 0
    with archive:
        members = archive.infolist()
        for index, info in enumerate(members):
            name = f"{display_prefix}{info.filename}"
            if index >= limits.max_members:
                yield SourceRejected(
                    f"{display_prefix}({len(members) - index} more members)",
                    f"archive has more than {limits.max_members} members; the rest were refused",
                )
                return
            reason = unsafe_member_reason(info.filename)
            if reason:
                yield SourceRejected(names.escaped(name), reason)
                continue
            if info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                yield SourceRejected(name, "symbolic link refused")
                continue
            if _is_hidden(info.filename):
                yield SourceSkipped(name, "hidden or system file")
                continue
            if info.flag_bits & 0x1:
                yield SourceRejected(name, "encrypted member refused")
                continue
            if info.file_size > limits.max_file_bytes:
                yield SourceRejected(
                    name, f"{info.file_size:,} bytes exceeds the {limits.max_file_bytes:,} limit"
                )
                continue
            if total + info.file_size > limits.max_total_bytes:
                yield SourceRejected(
                    name, f"archive expands beyond {limits.max_total_bytes:,} bytes; refused"
                )
                continue
            try:
                with archive.open(info) as handle:
                    data = handle.read(limits.max_file_bytes + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                yield SourceRejected(name, f"corrupt archive member: {exc}")
                continue
            if len(data) > limits.max_file_bytes:
                yield SourceRejected(name, "member larger than declared; refused")
                continue
            total += len(data)
            if looks_like_archive(info.filename, data[:300]):
                yield SourceRejected(name, "nested archive refused")
                continue
            yield SourceFile(name, data)


def iter_folder(root: Path, limits: Limits) -> Iterator[SourceItem]:
    """Walk a folder without following symbolic links, in a stable (sorted) order."""
    count = 0
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs.sort()
        here = Path(directory)
        for subdir in list(subdirs):
            if (here / subdir).is_symlink():
                subdirs.remove(subdir)
                rel = (here / subdir).relative_to(root).as_posix()
                yield SourceRejected(rel, "symbolic link refused")
        for filename in sorted(files):
            path = here / filename
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                yield SourceRejected(rel, "symbolic link refused")
                continue
            if _is_hidden(rel):
                yield SourceSkipped(rel, "hidden or system file")
                continue
            count += 1
            if count > limits.max_members:
                yield SourceRejected(rel, f"more than {limits.max_members} files; refused")
                continue
            yield from _read_single(path, rel, limits)


def iter_upload(path: Path, name: str, limits: Limits) -> Iterator[SourceItem]:
    """A single uploaded (or named) file: a zip is opened safely, anything else is a file."""
    reason = unsafe_name_reason(name)
    if reason:
        yield SourceRejected(names.escaped(name), reason)
        return
    if name.lower().endswith(".zip") or _starts_with(path, b"PK\x03\x04"):
        yield from iter_zip(path, limits, display_prefix=f"{name}/")
        return
    yield from _read_single(path, name, limits)


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(magic)) == magic


def _read_single(path: Path, name: str, limits: Limits) -> Iterator[SourceItem]:
    reason = unsafe_name_reason(name)
    if reason:
        yield SourceRejected(names.escaped(name), reason)
        return
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        yield SourceRejected(name, f"{size:,} bytes exceeds the {limits.max_file_bytes:,} limit")
        return
    data = path.read_bytes()
    if looks_like_archive(name, data[:300]):
        yield SourceRejected(name, "archive inside the import refused (upload zips directly)")
        return
    yield SourceFile(name, data)
