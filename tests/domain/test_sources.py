from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from app.domain.sources import (
    Limits,
    SourceFile,
    SourceRejected,
    SourceSkipped,
    iter_folder,
    iter_upload,
    iter_zip,
)
from tests.factories import image_bytes, zip_bytes

LIMITS = Limits(max_file_bytes=1_000_000, max_total_bytes=5_000_000, max_members=100)


def _outcomes(items):  # type: ignore[no-untyped-def]
    return {item.name: (type(item).__name__, getattr(item, "reason", "")) for item in items}


def test_zip_members_are_checked_one_by_one(tmp_path: Path) -> None:
    inner = zip_bytes({"x.png": image_bytes()})
    archive = tmp_path / "upload.zip"
    archive.write_bytes(
        zip_bytes(
            {
                "good.png": image_bytes(),
                "sub/also-good.jpg": image_bytes("JPEG"),
                "../escape.png": image_bytes(),
                "/etc/absolute.png": image_bytes(),
                "nested.zip": inner,
                "disguised.png": inner,
                "__MACOSX/._good.png": b"junk",
                ".DS_Store": b"junk",
            },
            symlinks={"link.png": "/etc/passwd"},
        )
    )
    got = _outcomes(iter_zip(archive, LIMITS))
    assert got["good.png"][0] == "SourceFile"
    assert got["sub/also-good.jpg"][0] == "SourceFile"
    assert got["../escape.png"] == ("SourceRejected", "path with '..' refused (path traversal)")
    assert got["/etc/absolute.png"] == ("SourceRejected", "absolute path refused")
    assert got["nested.zip"] == ("SourceRejected", "nested archive refused")
    assert got["disguised.png"] == ("SourceRejected", "nested archive refused")
    assert got["link.png"] == ("SourceRejected", "symbolic link refused")
    assert got["__MACOSX/._good.png"][0] == "SourceSkipped"
    assert got[".DS_Store"][0] == "SourceSkipped"


def test_oversized_and_encrypted_members_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge.png", b"\0" * 2_000_000)  # compresses to almost nothing
        zf.writestr("secret.png", b"not really encrypted")
    _mark_encrypted(archive, "secret.png")
    got = _outcomes(iter_zip(archive, LIMITS))
    assert got["huge.png"][0] == "SourceRejected" and "exceeds" in got["huge.png"][1]
    assert got["secret.png"] == ("SourceRejected", "encrypted member refused")


def _mark_encrypted(archive: Path, name: str) -> None:
    """Set the 'encrypted' flag in the central directory, as a password-protected zip has."""
    data = bytearray(archive.read_bytes())
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(name)] != name.encode():
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 8] |= 0x1
    archive.write_bytes(bytes(data))


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    archive.write_bytes(zip_bytes({f"{i}.png": b"x" for i in range(5)}))
    items = list(iter_zip(archive, Limits(1_000, 10_000, max_members=3)))
    assert [type(i) for i in items[:3]] == [SourceFile] * 3
    assert isinstance(items[3], SourceRejected) and "more than 3 members" in items[3].reason


def test_corrupt_zip_is_one_clear_rejection(tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    items = list(iter_upload(archive, "broken.zip", LIMITS))
    assert len(items) == 1 and isinstance(items[0], SourceRejected)
    assert "not a readable zip" in items[0].reason


def test_folder_walk_refuses_symlinks_and_skips_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(image_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(image_bytes())
    (tmp_path / ".hidden.png").write_bytes(image_bytes())
    (tmp_path / "link.png").symlink_to(tmp_path / "a.png")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(image_bytes())
    (tmp_path / "linkdir").symlink_to(outside, target_is_directory=True)
    (tmp_path / "inner.zip").write_bytes(zip_bytes({"x.png": image_bytes()}))
    got = _outcomes(iter_folder(tmp_path, LIMITS))
    assert got["a.png"][0] == "SourceFile"
    assert got["sub/b.png"][0] == "SourceFile"
    assert got["link.png"] == ("SourceRejected", "symbolic link refused")
    assert got["linkdir"] == ("SourceRejected", "symbolic link refused")
    assert not any("secret" in name for name in got)
    assert got[".hidden.png"][0] == SourceSkipped.__name__
    assert got["inner.zip"][0] == "SourceRejected"


@pytest.mark.parametrize("size", [0, 10])
def test_single_upload_passes_bytes_through(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.png"
    path.write_bytes(b"x" * size)
    (item,) = iter_upload(path, "f.png", LIMITS)
    assert isinstance(item, SourceFile) and item.data == b"x" * size


def test_names_with_control_or_bidi_characters_are_refused_and_shown_escaped(
    tmp_path: Path,
) -> None:
    """A U+202E makes "photo\u202egnp.exe" show as "photoexe.png": such names never become an
    image's name, and the refusal shows the character by its code point."""
    archive = tmp_path / "upload.zip"
    archive.write_bytes(
        zip_bytes(
            {
                "good.png": image_bytes(),
                "photo\u202egnp.exe": image_bytes(),
                "bell\x07.png": image_bytes(),
            }
        )  # fmt: skip
    )
    got = _outcomes(iter_zip(archive, LIMITS))
    assert got["good.png"][0] == "SourceFile"
    assert got["photo<U+202E>gnp.exe"][0] == "SourceRejected"
    assert "U+202E" in got["photo<U+202E>gnp.exe"][1]
    assert got["bell<U+0007>.png"][0] == "SourceRejected"
    single = tmp_path / "single.png"
    single.write_bytes(image_bytes())
    (item,) = iter_upload(single, "x\u2066y.png", LIMITS)
    assert isinstance(item, SourceRejected) and item.name == "x<U+2066>y.png"
    (zipped,) = list(iter_upload(archive, "a\u200f.zip", LIMITS))
    assert isinstance(zipped, SourceRejected) and "U+200F" in zipped.reason
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "ok.png").write_bytes(image_bytes())
    (folder / "right\u202eto-left.png").write_bytes(image_bytes())
    walked = _outcomes(iter_folder(folder, LIMITS))
    assert walked["ok.png"][0] == "SourceFile"
    assert walked["right<U+202E>to-left.png"][0] == "SourceRejected"
