"""``miscomp studies import BUNDLE.zip``: a study's bundle with its originals
(``bundle_rebuild.py``), read and checked by ``bundle_reader.py``, rebuilt in this instance
in the caller's one transaction (flushes only; nothing is stored when anything is refused).

- Datasets by name: an existing dataset of the same name is reused when it already holds
  every image the bundle needs from it (by pixel sha256); otherwise the new dataset is named
  ``<name> (imported N)``. Images go through the image import (``importer.record_file``),
  which recognises those already there; new ones keep the bundle's provenance (source
  sha256, format, mode, notes).
- Runs become imported runs (codec ``imported``, the source codec as ``params.label`` and
  its parameters as ``params.params``, so records name the source codec), with the
  results the items use, their reconstructions and matched JPEGs stored as artefacts.
- The study, its items and crops (under new asset tokens), its raters as inactive
  annotators (``imported-s<study id>-R01``, or their usernames when the bundle has them and
  they are free), their leases in the order they were taken (so the pseudonyms stay), every
  revision of every annotation and the adjudications (the adjudicator an inactive imported
  researcher when the bundle names one, else none).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.config import Settings
from app.datasets.models import Dataset
from app.db import utcnow
from app.domain.exports import bundle_layout as layout
from app.domain.roles import Role
from app.errors import InvalidInput
from app.exports import bundle_images
from app.exports.bundle_reader import BundleContents
from app.exports.bundle_rebuild import RESULT_FIELDS, STUDY_FIELDS
from app.storage import MediaStorage, artefact_key
from app.studies.models import (
    Adjudication,
    Annotation,
    AnnotationRevision,
    Assignment,
    Study,
    StudyAsset,
    StudyItem,
    TaxonomyVersion,
)
from app.users import service as user_service
from app.users.models import User
from app.users.schemas import USERNAME_PATTERN

Progress = Callable[[int], None]
LABEL_FIELDS = (
    "verdict",
    "categories",
    "modifiers",
    "note",
    "original_shows",
    "compressed_shows",
    "confidence",
    "seen_in",
    "boxes",
)
"""An annotation's labels, the same in each of its revisions (``label`` of a record)."""
LIVE = ("leased", "done")
"""Lease statuses that hold one of the item's k places (``assignment``: skipped and expired
leases gave theirs back)."""


def import_bundle(
    session: Session,
    storage: MediaStorage,
    settings: Settings,
    contents: BundleContents,
    *,
    name: str | None = None,
    progress: Progress | None = None,
) -> Study:
    """The bundle's study, rebuilt; flushes. Any inconsistency is an InvalidInput, after
    which the caller rolls back."""
    steps = _Steps(progress)
    try:
        return _rebuild(session, storage, settings, contents, name, steps)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"bundle refused, nothing imported: a member holds a wrong value: {exc!r}"
        ) from None


class _Steps:
    def __init__(self, progress: Progress | None) -> None:
        self.progress, self.done = progress, 0

    def one(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done)


def _rebuild(
    session: Session,
    storage: MediaStorage,
    settings: Settings,
    contents: BundleContents,
    name: str | None,
    steps: _Steps,
) -> Study:
    document = contents.study
    design = {field: document["study"][field] for field in STUDY_FIELDS}
    design["name"] = name or design["name"]
    if session.scalar(select(Study.id).where(Study.name == design["name"])) is not None:
        raise InvalidInput(f"a study named {design['name']!r} exists; give another (--name)")
    taxonomy = _taxonomy(session, document["taxonomy"])
    datasets = bundle_images.datasets_for(session, contents)
    images = bundle_images.import_images(session, storage, settings, contents, datasets, steps.one)
    runs, results = _runs(session, storage, contents, datasets, images, steps)
    study = Study(
        **design,
        run_ids=[runs[int(i)] for i in document["run_ids"]],
        versus_run_id=runs.get(int(document["versus_run_id"] or 0)),
        taxonomy_version_id=taxonomy.id,
    )
    session.add(study)
    session.flush()
    items = _items(session, storage, contents, study, images, results, steps)
    leases = _leases(session, contents, study, items)
    _annotations(session, contents, study, items, leases, steps)
    _adjudications(session, contents, study, items)
    session.flush()
    return study


def _taxonomy(session: Session, entry: dict[str, Any]) -> TaxonomyVersion:
    """The same version here, or a new row of it; a version of that name and number that
    differs is refused (versions are never edited)."""
    found = session.scalar(
        select(TaxonomyVersion).where(
            TaxonomyVersion.name == entry["name"], TaxonomyVersion.version == entry["version"]
        )
    )
    if found is None:
        found = TaxonomyVersion(
            name=entry["name"],
            version=int(entry["version"]),
            categories=entry["categories"],
            verdicts=entry["verdicts"],
        )
        session.add(found)
        session.flush()
    elif found.categories != entry["categories"] or found.verdicts != entry["verdicts"]:
        raise InvalidInput(
            f"taxonomy {entry['name']} v{entry['version']} differs here from the bundle's"
        )
    return found


def _runs(
    session: Session,
    storage: MediaStorage,
    contents: BundleContents,
    datasets: dict[str, Dataset],
    images: dict[tuple[str, str], int],
    steps: _Steps,
) -> tuple[dict[int, int], dict[int, int]]:
    """Bundle run id -> run id, bundle result id -> result id."""
    by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in contents.results:
        by_run[int(line["run_id"])].append(line)
    runs, results = {}, {}
    for entry in contents.study["runs"]:
        dataset = str(entry["dataset"])
        lines = by_run[int(entry["id"])]
        run = CodecRun(
            dataset_id=datasets[dataset].id,
            codec="imported",
            params={
                "label": entry["codec"],
                "params": entry["params"],
                "bundle": contents.name,
                "bundle_run_id": entry["id"],
            },
            seeds=entry["seeds"],
            image_ids=sorted({images[(dataset, str(r["image_sha256"]))] for r in lines}),
            match_jpeg=entry["match_jpeg"],
            jpeg_params=entry["jpeg_params"],
            maps=[],  # the distortion maps do not travel in a bundle
            queue="post",
            status="done",
            finished_at=utcnow(),
        )
        session.add(run)
        session.flush()
        runs[int(entry["id"])] = run.id
        for line in lines:
            result = CodecResult(
                run_id=run.id,
                image_id=images[(dataset, str(line["image_sha256"]))],
                recon_key=_stored(storage, contents, line["reconstruction"]),
                jpeg_key=_stored(storage, contents, line["matched_jpeg"]),
                maps={},
                attempts=0,
                finished_at=utcnow(),
                **{field: line[field] for field in RESULT_FIELDS},
            )
            session.add(result)
            session.flush()
            results[int(line["id"])] = result.id
            steps.one()
    return runs, results


def _stored(storage: MediaStorage, contents: BundleContents, member: str | None) -> str | None:
    """A reconstruction's member, stored as the workers store one."""
    if member is None:
        return None
    data = contents.read(member)
    key = artefact_key("recon", data, ".png")
    storage.put(key, data)
    return key


def _items(
    session: Session,
    storage: MediaStorage,
    contents: BundleContents,
    study: Study,
    images: dict[tuple[str, str], int],
    results: dict[int, int],
    steps: _Steps,
) -> dict[int, int]:
    """Bundle item id -> item id; each crop stored under a new token, counters from the
    leases."""
    live: Counter[int] = Counter()
    done: Counter[int] = Counter()
    for lease in contents.leases:
        live[int(lease["item_id"])] += lease["status"] in LIVE
        done[int(lease["item_id"])] += lease["status"] == "done"
    items = {}
    for line in contents.items:
        old = int(line["id"])
        stored = {}
        for pane in line["panes"]:
            data = contents.read(layout.crop_member(old, pane))
            key = artefact_key("crops", data, ".png")
            storage.put(key, data)
            stored[str(pane)] = (secrets.token_urlsafe(16), key)
        item = StudyItem(
            study_id=study.id,
            position=line["position"],
            kind=line["kind"],
            method=line["method"],
            result_id=results[int(line["result_id"])] if line["result_id"] is not None else None,
            image_id=images[(str(line["dataset"]), str(line["image_sha256"]))],
            x=line["x"],
            y=line["y"],
            size=line["size"],
            share_percent=line["share_percent"],
            score=line["score"],
            inclusion_probability=line["inclusion_probability"],
            evidence=line["evidence"],
            assets={pane: token for pane, (token, _) in stored.items()},
            active_count=live[old],
            done_count=done[old],
        )
        session.add(item)
        session.flush()
        for token, key in stored.values():
            session.add(
                StudyAsset(token=token, study_id=study.id, item_id=item.id, storage_key=key)
            )
        items[old] = item.id
        steps.one()
    return items


def _leases(
    session: Session, contents: BundleContents, study: Study, items: dict[int, int]
) -> dict[tuple[int, str], Assignment]:
    """(bundle item id, pseudonym) -> its assignment, made in the bundle's order (the order
    raters took items, which the pseudonyms follow)."""
    raters: dict[str, User] = {}
    leases = {}
    for line in contents.leases:
        pseudonym = str(line["rater"])
        if pseudonym not in raters:
            raters[pseudonym] = _imported_user(
                session, study, pseudonym, line.get("name"), Role.ANNOTATOR
            )
        lease = Assignment(
            study_id=study.id,
            item_id=items[int(line["item_id"])],
            user_id=raters[pseudonym].id,
            status=line["status"],
            leased_at=_time(line["leased_at"]),
            lease_expires_at=_time(line["lease_expires_at"]),
            finished_at=_time(line["finished_at"]) if line["finished_at"] else None,
            pane_map=line["pane_map"],
        )
        session.add(lease)
        session.flush()  # one at a time: ids in the bundle's order
        leases[(int(line["item_id"]), pseudonym)] = lease
    return leases


def _imported_user(
    session: Session, study: Study, pseudonym: str, name: str | None, role: Role
) -> User:
    """An inactive account nobody can log in to: the bundle's username when it has one
    that is free here, else ``imported-s<study id>-<pseudonym>``."""
    username = f"imported-s{study.id}-{pseudonym}"[:64]
    free = name and user_service.find_user_by_username(session, name) is None
    if name and free and re.fullmatch(USERNAME_PATTERN, name):
        username = name
    return user_service.create_login_less_user(session, username, role)


def _annotations(
    session: Session,
    contents: BundleContents,
    study: Study,
    items: dict[int, int],
    leases: dict[tuple[int, str], Assignment],
    steps: _Steps,
) -> None:
    """Each annotation with every revision; its current labels are its last revision's."""
    revisions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in contents.records:
        revisions[int(record["label"]["annotation_id"])].append(record)
    for records in revisions.values():
        records.sort(key=lambda r: int(r["label"]["revision"]))
        first, current = records[0], records[-1]
        label = current["label"]
        lease = leases[(int(current["item"]["id"]), str(current["rater"]["id"]))]
        annotation = Annotation(
            client_id=uuid.uuid4().hex,
            assignment_id=lease.id,
            study_id=study.id,
            item_id=lease.item_id,
            user_id=lease.user_id,
            taxonomy_version_id=study.taxonomy_version_id,
            revision=int(label["revision"]),
            time_spent_ms=label["time_spent_ms"],
            late=bool(label["late"]),
            created_at=_time(first["label"]["submitted_at"]),
            **_labels(label),
        )
        session.add(annotation)
        session.flush()
        for record in records:
            session.add(
                AnnotationRevision(
                    annotation_id=annotation.id,
                    number=int(record["label"]["revision"]),
                    client_id=uuid.uuid4().hex,
                    created_at=_time(record["label"]["submitted_at"]),
                    **_labels(record["label"]),
                )
            )
            steps.one()


def _labels(label: dict[str, Any]) -> dict[str, Any]:
    return {field: label[field] for field in LABEL_FIELDS}


def _adjudications(
    session: Session, contents: BundleContents, study: Study, items: dict[int, int]
) -> None:
    adjudicators: dict[str, User] = {}
    for line in contents.items:
        decision = line["adjudication"]
        if decision is None:
            continue
        adjudicator = None
        if decision["adjudicator"]:
            name = str(decision["adjudicator"])
            if name not in adjudicators:
                adjudicators[name] = _imported_user(
                    session, study, f"adjudicator-{len(adjudicators) + 1}", name, Role.RESEARCHER
                )
            adjudicator = adjudicators[name]
        session.add(
            Adjudication(
                study_id=study.id,
                item_id=items[int(line["id"])],
                verdict=decision["verdict"],
                categories=decision["categories"],
                modifiers=decision["modifiers"],
                note=decision["note"],
                adjudicator_id=adjudicator.id if adjudicator else None,
                decided_at=_time(decision["decided_at"]),
            )
        )


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))
