"""Reading a study's export bundle for ``miscomp studies import`` (``bundle_import.py``):
every member passes the checks and limits of an image import (``app.domain.sources.iter_zip``
with ``app.uploads.archive_limits``: no absolute or ``..`` paths, links, nested archives,
encrypted or oversized members), the members the import reads are staged in a folder of
their own, and every reference between them is checked before anything is stored. A bundle
without its originals, or one whose members disagree, is refused with every problem named.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from app.config import Settings
from app.domain.exports import bundle_layout as layout
from app.domain.sources import SourceFile, SourceRejected, iter_zip
from app.errors import InvalidInput
from app.uploads import archive_limits, staging_dir_for

MAX_PROBLEMS_SHOWN = 20
_READ = (layout.STUDY, layout.IMAGES, layout.RESULTS, layout.ITEMS, layout.LEASES)
_REVISION_MEMBERS = (layout.ALL_REVISIONS, layout.revisions_member(all_revisions=True))
_READ_DIRS = (layout.ORIGINALS_DIR, layout.RECONSTRUCTIONS_DIR, layout.CROPS_DIR)


@dataclass
class BundleContents:
    """What the import reads, parsed, and where the staged image members lie."""

    folder: Path
    name: str
    study: dict[str, Any]
    images: list[dict[str, Any]]
    results: list[dict[str, Any]]
    items: list[dict[str, Any]]
    leases: list[dict[str, Any]]
    records: list[dict[str, Any]]
    """Every revision's record (``annotations.all.jsonl``)."""
    members: set[str] = field(default_factory=set)

    @property
    def steps(self) -> int:
        """The import's progress, in steps: each image, result, item and record once."""
        return len(self.images) + len(self.results) + len(self.items) + len(self.records)

    def read(self, member: str) -> bytes:
        return self.folder.joinpath(*PurePosixPath(member).parts).read_bytes()


@contextmanager
def opened_bundle(settings: Settings, path: Path) -> Iterator[BundleContents]:
    """The bundle at ``path``, checked and staged; the staged files are removed afterwards."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    staging = staging_dir_for(settings)
    try:
        yield read_bundle(path, staging, settings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_bundle(path: Path, staging: Path, settings: Settings) -> BundleContents:
    problems: list[str] = []
    members: set[str] = set()
    for entry in iter_zip(path, archive_limits(settings)):
        if isinstance(entry, SourceRejected):
            problems.append(f"{entry.name}: {entry.reason}")
        elif isinstance(entry, SourceFile):
            members.add(entry.name)
            staged = (*_READ, *_REVISION_MEMBERS)
            if entry.name in staged or entry.name.startswith(_staged_prefixes()):
                target = staging.joinpath(*PurePosixPath(entry.name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(entry.data)
    _refuse(problems)
    if layout.STUDY not in members:
        raise InvalidInput(
            f"{path.name} is not a bundle with its originals (it has no {layout.STUDY}): "
            "export the study with --originals (the API's include_originals) to import it"
        )
    revisions = layout.ALL_REVISIONS
    if revisions not in members:
        revisions = layout.revisions_member(all_revisions=True)
    missing = [m for m in (*_READ, revisions) if m not in members]
    _refuse([f"{m}: missing" for m in missing])
    contents = BundleContents(
        folder=staging,
        name=path.name,
        study=_json_object(staging / layout.STUDY, layout.STUDY),
        images=_json_lines(staging / layout.IMAGES, layout.IMAGES),
        results=_json_lines(staging / layout.RESULTS, layout.RESULTS),
        items=_json_lines(staging / layout.ITEMS, layout.ITEMS),
        leases=_json_lines(staging / layout.LEASES, layout.LEASES),
        records=_json_lines(staging / revisions, revisions),
        members=members,
    )
    if contents.study.get("format") != layout.REBUILD_FORMAT:
        raise InvalidInput(
            f"{layout.STUDY}: format {contents.study.get('format')!r}, this version reads "
            f"format {layout.REBUILD_FORMAT}"
        )
    _refuse(_reference_problems(contents))
    return contents


def _staged_prefixes() -> tuple[str, ...]:
    return tuple(f"{folder}/" for folder in _READ_DIRS)


def _refuse(problems: list[str]) -> None:
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        raise InvalidInput(
            "bundle refused, nothing imported: "
            + "; ".join(shown)
            + (f"; and {more} more" if more else "")
        )


def _json_object(path: Path, member: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"bundle refused, nothing imported: {member} is not JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"bundle refused, nothing imported: {member} is not a JSON object")
    return value


def _json_lines(path: Path, member: str) -> list[dict[str, Any]]:
    lines = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"bundle refused, nothing imported: {member} line {number} is not JSON: {exc}"
            ) from None
        if not isinstance(value, dict):
            raise InvalidInput(
                f"bundle refused, nothing imported: {member} line {number} is not an object"
            )
        lines.append(value)
    return lines


def _reference_problems(contents: BundleContents) -> list[str]:
    """Whatever one member names that another lacks (or a field the import needs that is
    missing or of the wrong type)."""
    problems: list[str] = []
    try:
        runs = {int(run["id"]) for run in contents.study["runs"]}
        datasets = {str(d["name"]) for d in contents.study["datasets"]}
        for run in contents.study["runs"]:
            if run["dataset"] not in datasets:
                problems.append(f"{layout.STUDY}: run {run['id']} names no listed dataset")
        images = {(str(i["dataset"]), str(i["sha256"])) for i in contents.images}
        for dataset, sha256 in images:
            if dataset not in datasets:
                problems.append(f"{layout.IMAGES}: {sha256} names no listed dataset")
            if layout.original_member(sha256) not in contents.members:
                problems.append(f"{layout.original_member(sha256)}: missing")
        results = set()
        for result in contents.results:
            results.add(int(result["id"]))
            if int(result["run_id"]) not in runs:
                problems.append(f"{layout.RESULTS}: result {result['id']} names no listed run")
            for name in ("reconstruction", "matched_jpeg"):
                if result[name] is not None and result[name] not in contents.members:
                    problems.append(f"{result[name]}: missing")
        items = set()
        for item in contents.items:
            items.add(int(item["id"]))
            if (str(item["dataset"]), str(item["image_sha256"])) not in images:
                problems.append(f"{layout.ITEMS}: item {item['id']} names no listed image")
            if item["result_id"] is not None and int(item["result_id"]) not in results:
                problems.append(f"{layout.ITEMS}: item {item['id']} names no listed result")
            for pane in item["panes"]:
                if layout.crop_member(int(item["id"]), str(pane)) not in contents.members:
                    problems.append(f"{layout.crop_member(int(item['id']), str(pane))}: missing")
        leases = set()
        for lease in contents.leases:
            leases.add((int(lease["item_id"]), str(lease["rater"])))
            if int(lease["item_id"]) not in items:
                problems.append(f"{layout.LEASES}: item {lease['item_id']} is not listed")
            datetime.fromisoformat(str(lease["leased_at"]))
        for record in contents.records:
            if (int(record["item"]["id"]), str(record["rater"]["id"])) not in leases:
                problems.append(
                    f"annotation {record['label']['annotation_id']}: no lease of its item and rater"
                )
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(f"a member lacks a field or holds a wrong value: {exc!r}")
    return problems
