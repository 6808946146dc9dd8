"""Studies: which crops of which codec runs are shown, to how many raters, and how.

An item is one crop (or a control) that k raters label. Assignments lease items to raters;
the counters on the item row (``active_count``, ``done_count``) are changed only by
conditional UPDATEs, so under any number of concurrent annotators no item gets more than k
ratings, on PostgreSQL and on the embedded SQLite alike.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow
from app.studies.methods.base import NAME_LENGTH as METHOD_NAME_LENGTH


class LabelSource(StrEnum):
    """Who gives a study's labels. Simulated labels (``app/studies/simulation.py``) are never
    mixed with people's: a study is labelled by one or the other."""

    PEOPLE = "people"
    SIMULATED = "simulated"


class TaxonomyVersion(Base):
    """A version of a labelling taxonomy. Versions are never edited: adding a category (the
    paper names TEXTURE as an extension) makes a new version, and every annotation records
    the version it was made under."""

    __tablename__ = "taxonomy_version"
    __audited__ = True
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    categories: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """[{key, label, description, kind: category|modifier, shortcut, example?}]; example: the
    sha256 of an example crop's pixels, stored under ``storage.taxonomy_example_key``."""
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Study(Base):
    __tablename__ = "study"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    instructions: Mapped[str] = mapped_column(Text, default="")
    """Markdown shown to annotators."""
    status: Mapped[str] = mapped_column(String(16), default="proposing")
    """proposing (crops being proposed), open, closed, failed."""
    error: Mapped[str | None] = mapped_column(Text)
    run_ids: Mapped[list[int]] = mapped_column(JSON)
    versus_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("codec_run.id", ondelete="SET NULL")
    )
    """A second codec run of the same images set against the study's runs: its reconstruction
    of each item's image is the ``versus`` pane (two codecs compared head to head)."""
    crop_sizes: Mapped[list[int]] = mapped_column(JSON)
    methods: Mapped[list[str]] = mapped_column(JSON)
    """Names of the proposal methods in use (``app/studies/methods``: guided, text, random...)."""
    method_params: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON, default=dict)
    """Method name -> its parameters, validated by the method's ``params_model`` (a method
    not named here proposes with its defaults)."""
    items_target: Mapped[int] = mapped_column(Integer)
    quotas: Mapped[dict[str, float]] = mapped_column(JSON)
    """Shares of the items: guided (the targeted methods' crops), random (the sample
    method's), control."""
    planted_controls: Mapped[bool] = mapped_column(Boolean, default=False)
    raters_per_item: Mapped[int] = mapped_column(Integer, default=3)
    per_rater_cap: Mapped[int | None] = mapped_column(Integer)
    lease_s: Mapped[int] = mapped_column(Integer, default=900)
    blind: Mapped[bool] = mapped_column(Boolean, default=True)
    panes: Mapped[list[str]] = mapped_column(JSON)
    """original, reconstruction, jpeg, difference: the panes annotators see."""
    seed: Mapped[int] = mapped_column(Integer, default=0)
    taxonomy_version_id: Mapped[int] = mapped_column(ForeignKey("taxonomy_version.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    region_iou: Mapped[float] = mapped_column(Float, default=0.5)
    """Boxes of different raters count as the same region from this IoU up."""
    label_source: Mapped[str] = mapped_column(String(16), default=LabelSource.PEOPLE)
    """A ``LabelSource``: people, or simulated raters; a simulated study is never offered to
    people (``queries.offered_to_people``), and every page of it says its labels are simulated."""
    simulation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The settings the simulated raters label with (``simulation.SimulationSettings``), kept
    so that pages can say what the figures are of; None for a study people label."""
    proposal_report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Counts of candidates per method and size, bucket scales, OCR engine: how items came."""
    members_only: Mapped[bool] = mapped_column(Boolean, default=False)
    """False: every annotator may label the study. True: only its members (``StudyMember``:
    listed users and the users of listed groups); the rule is ``queries.open_to``."""
    qualification_items: Mapped[int] = mapped_column(Integer, default=0)
    """Control items a rater answers, with feedback, before any real item (0: no qualification
    round). ``app/studies/qualification.py`` draws them and keeps the gate."""
    qualification_pass: Mapped[float] = mapped_column(Float, default=0.8)
    """The share of the qualification round a rater must get right to be given real items."""


class StudyMember(Base):
    """A user, or a group of users, who may annotate a members-only study."""

    __tablename__ = "study_member"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("study_id", "user_id"),
        UniqueConstraint("study_id", "group_id"),
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="user_or_group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_group.id", ondelete="CASCADE"), index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StudyItem(Base):
    """One crop (or control) shown to raters, in original-image pixel coordinates."""

    __tablename__ = "study_item"
    __audit_exempt__ = (
        "proposed in bulk by the worker from the study's settings (audited); its counters change"
        " by conditional UPDATEs on every lease"
    )
    __table_args__ = (
        Index("ix_study_item_pick", "study_id", "active_count", "position"),
        UniqueConstraint("study_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    """A random permutation: the order items are handed out in (within equal progress)."""
    kind: Mapped[str] = mapped_column(String(24))
    """crop, control_identity (the 'reconstruction' is the original) or control_planted."""
    method: Mapped[str] = mapped_column(String(METHOD_NAME_LENGTH))
    """The proposal method that found the crop (``app/studies/methods``), or control."""
    result_id: Mapped[int | None] = mapped_column(
        ForeignKey("codec_result.id", ondelete="CASCADE"), index=True
    )
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    share_percent: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    inclusion_probability: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    assets: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    """Pane -> opaque asset token (see StudyAsset)."""
    active_count: Mapped[int] = mapped_column(Integer, default=0)
    """Raters holding a live lease on the item or done with it; never above k."""
    done_count: Mapped[int] = mapped_column(Integer, default=0)


class StudyAsset(Base):
    """An opaque name for a rendered crop image, so that no URL says which codec made it."""

    __tablename__ = "study_asset"
    __audit_exempt__ = "a rendered image of an item, written once when the study is proposed"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("study_item.id", ondelete="CASCADE"), index=True
    )
    """The item whose pane this is: annotators get it only while holding, or after holding,
    that item's lease."""
    storage_key: Mapped[str] = mapped_column(String(200))


class Assignment(Base):
    """One rater's lease on one item, then its outcome. Unique per (item, rater): nobody is
    shown the same item twice."""

    __tablename__ = "assignment"
    __audit_exempt__ = (
        "a lease, bookkeeping of who holds which item until when (conditional UPDATEs under row"
        " locks); what a rater said is audited on the annotation"
    )
    __table_args__ = (
        UniqueConstraint("item_id", "user_id"),
        Index("ix_assignment_study_user_status", "study_id", "user_id", "status"),
        Index("ix_assignment_study_status_expires", "study_id", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("study_item.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="leased")
    """leased, done, skipped, expired."""
    leased_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pane_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    """Shown label -> pane: {"A": "jpeg", "B": "reconstruction"} in a blind study. Randomised
    per (rater, item) and kept for the analysis."""


class Annotation(Base):
    """A rater's labels for an item, under the taxonomy version of its study. ``client_id``
    is generated by the browser per submission: a double click or a retry after a network
    error finds the first one instead of making a second."""

    __tablename__ = "annotation"
    __audited__ = True
    __table_args__ = (Index("ix_annotation_study_item", "study_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignment.id", ondelete="CASCADE"), unique=True
    )
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("study_item.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    taxonomy_version_id: Mapped[int] = mapped_column(ForeignKey("taxonomy_version.id"))
    verdict: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    modifiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    """SYMBOL and any other modifier of the taxonomy."""
    note: Mapped[str] = mapped_column(Text, default="")
    original_shows: Mapped[str] = mapped_column(Text, default="")
    """What the original shows, in the rater's words (the paper's test: an observer would
    describe original and reconstruction differently)."""
    compressed_shows: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[int | None] = mapped_column(Integer)
    """1 (a guess) to 5 (certain)."""
    seen_in: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The panes the rater saw the miscompression in, by pane name (``reconstruction``,
    ``jpeg``): the blind labels ("A", "B") are mapped back through the lease's pane map."""
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Regions drawn by the rater: {pane, x, y, w, h} in crop pixels, pane by name."""
    revision: Mapped[int] = mapped_column(Integer, default=1)
    """The number of the current revision (see AnnotationRevision)."""
    time_spent_ms: Mapped[int | None] = mapped_column(Integer)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    """Submitted after the lease expired and the item was completed by others: kept, but not
    one of the item's k ratings."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AnnotationRevision(Base):
    """Every version of an annotation, the first included: editing never loses what a rater
    said before."""

    __tablename__ = "annotation_revision"
    __audit_exempt__ = (
        "the append-only history of an annotation, whose audit rows (create, then one update"
        " per revision) already hold each version"
    )
    __table_args__ = (UniqueConstraint("annotation_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotation.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    verdict: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    modifiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    original_shows: Mapped[str] = mapped_column(Text, default="")
    compressed_shows: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[int | None] = mapped_column(Integer)
    seen_in: Mapped[list[str]] = mapped_column(JSON, default=list)
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StudyResult(Base):
    """A study's agreement report, computed on a worker and kept until new labels arrive
    (``fingerprint`` names the labels it was computed from)."""

    __tablename__ = "study_result"
    __audit_exempt__ = "a cache of the study's report, recomputed from the labels when they change"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """queued, running, done, failed."""
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    """Of the labels behind ``report`` (empty before the first report)."""
    wanted: Mapped[str] = mapped_column(String(64), default="")
    """Of the labels the queued or running computation reads."""
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """{questions: [...], raters: [...], confusion: {labels, counts}}"""
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Adjudication(Base):
    """A researcher's final label for an item the raters disagreed on. Kept apart from the
    raters' annotations, which stay as they were; a later decision replaces an earlier one,
    and the audit log keeps every version with who and when."""

    __tablename__ = "adjudication"
    __audited__ = True
    __table_args__ = (UniqueConstraint("item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("study_item.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    modifiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    adjudicator_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class QualificationAnswer(Base):
    """A rater's verdict on one control item of a study's qualification round. Kept apart from
    annotations: it counts toward no item's k, agreement or prevalence. A researcher's reset
    marks the rater's answers ``reset_at`` (kept, audited) and starts the next ``attempt``."""

    __tablename__ = "qualification_answer"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("study_id", "user_id", "attempt", "number"),
        Index("ix_qualification_answer_study_user", "study_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("study_item.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    """1 for the rater's first round; one more after each reset."""
    number: Mapped[int] = mapped_column(Integer)
    """The question's place in the round, from 1."""
    verdict: Mapped[str] = mapped_column(String(32))
    correct: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when a researcher let the rater try again: the answer is kept but no longer counts."""
