"""Manifests of reconstructions made elsewhere (BPG, VTM, HM, a paper's published outputs).

CSV (header row) or JSON (a list of objects), one row per reconstruction:

    image           the original's file name in the dataset, or its sha256 (bytes or pixels)
    reconstruction  path of the reconstruction (relative to the manifest's folder, or absolute)
    bytes | bpp     the compressed size as reported by whoever made it (one of the two)
    codec           a label for the codec ("bpg-0.9.8", "hific-lo", ...)
    params          optional JSON object of parameters ({"qp": 37})
    seed            optional integer
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.domain.bounds import INT32_MAX, SEED, JsonRefused, parse_json


class ManifestError(ValueError):
    """The manifest cannot be used; the message lists every problem found."""


@dataclass(frozen=True)
class ManifestRow:
    line: int
    image: str
    reconstruction: Path
    codec: str
    bytes: int | None
    bpp: float | None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def bits(self, width: int, height: int) -> int:
        if self.bytes is not None:
            return self.bytes * 8
        assert self.bpp is not None
        return round(self.bpp * width * height)


MAX_SIZES = {"bytes": 2**59, "bpp": 1e6}
"""Beyond any real codec; keeps the bits (a BIGINT, bytes x 8 or bpp x pixels) in range."""


def _number(value: Any, kind: type, name: str, problems: list[str], line: int) -> Any:
    if value in (None, ""):
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        problems.append(f"row {line}: {name} {value!r} is not a number")
        return None
    if not 0 < number <= MAX_SIZES[name]:  # also refuses NaN and infinities
        problems.append(f"row {line}: {name} must be positive and at most {MAX_SIZES[name]:g}")
        return None
    return number


def parse_manifest(path: Path) -> list[ManifestRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            records = parse_json(text, field=str(path), max_bytes=None)
        except JsonRefused as exc:
            raise ManifestError(str(exc)) from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ManifestError(f"{path}: expected a JSON list of objects")
    else:
        records = list(csv.DictReader(io.StringIO(text)))
    if not records:
        raise ManifestError(f"{path}: the manifest has no rows")
    problems: list[str] = []
    rows = []
    for line, record in enumerate(records, start=2 if path.suffix.lower() != ".json" else 1):
        image = str(record.get("image") or "").strip()
        recon = str(record.get("reconstruction") or "").strip()
        codec = str(record.get("codec") or "").strip()
        for name, value in (("image", image), ("reconstruction", recon), ("codec", codec)):
            if not value:
                problems.append(f"row {line}: {name} is missing")
        size = _number(record.get("bytes"), int, "bytes", problems, line)
        bpp = _number(record.get("bpp"), float, "bpp", problems, line)
        if (
            size is None
            and bpp is None
            and not any(p.startswith(f"row {line}: b") for p in problems)
        ):
            problems.append(f"row {line}: give bytes or bpp")
        params = record.get("params") or {}
        if isinstance(params, str):
            try:
                params = parse_json(params, field="params")
            except JsonRefused as exc:
                problems.append(f"row {line}: params is not a JSON object ({exc})")
                params = {}
        if not isinstance(params, dict):
            problems.append(f"row {line}: params is not a JSON object")
            params = {}
        seed_value = record.get("seed")
        try:
            seed = SEED.validate_python(seed_value if seed_value not in (None, "") else 0)
        except ValueError:
            problems.append(f"row {line}: seed {seed_value!r} is not an integer 0 to {INT32_MAX}")
            seed = 0
        recon_path = Path(recon)
        if recon and not recon_path.is_absolute():
            recon_path = path.parent / recon_path
        rows.append(ManifestRow(line, image, recon_path, codec, size, bpp, params, seed))
    if problems:
        raise ManifestError("; ".join(problems))
    return rows
