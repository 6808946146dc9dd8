from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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

RUN_ACTIVE_STATUSES = ("queued", "running")
"""A run still has results to code; a study over it waits, and it can be cancelled."""
RUN_ENDED_STATUSES = ("done", "cancelled")
RESULT_ACTIVE_STATUSES = ("pending", "encoding", "encoded", "postprocessing")
"""A result a worker has yet to finish (or is working on)."""
RESULT_FINAL_STATUSES = ("done", "failed", "invalid", "cancelled")
"""A result no worker will touch again; a run is done when all of its results are final."""


class CodecSweep(Base):
    """One request that queued one run per value of a codec parameter (a rate-distortion
    curve). Each run stays an ordinary run; the sweep only groups them."""

    __tablename__ = "codec_sweep"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), index=True
    )
    codec: Mapped[str] = mapped_column(String(100))
    param: Mapped[str] = mapped_column(String(64))
    """The parameter the runs differ in."""
    values: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Its validated values, one per run, in the order given."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CodecRun(Base):
    """A dataset (or a subset) x one configured codec x seeds, with its options."""

    __tablename__ = "codec_run"
    __audited__ = True
    __audit_ignore__ = frozenset({"started_at", "finished_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), index=True
    )
    codec: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The codec's validated parameters (its identity)."""
    seeds: Mapped[list[int]] = mapped_column(JSON, default=list)
    image_ids: Mapped[list[int] | None] = mapped_column(JSON)
    """A subset of the dataset, or None for every image."""
    match_jpeg: Mapped[bool] = mapped_column(Boolean, default=False)
    jpeg_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    maps: Mapped[list[str]] = mapped_column(JSON, default=list)
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``RUN_ACTIVE_STATUSES`` or ``RUN_ENDED_STATUSES``."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    sweep_id: Mapped[int | None] = mapped_column(
        ForeignKey("codec_sweep.id", ondelete="SET NULL"), index=True
    )
    """The sweep that queued the run, if one did."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CodecResult(Base):
    """One (image, seed) of a run: the reconstruction, its bits, metrics, maps and the matched
    JPEG. Unique per (run, image, seed), so a duplicated task can never add a second one."""

    __tablename__ = "codec_result"
    __audit_exempt__ = (
        "per-image measurements of a run, written by the workers (a retry recomputes them); the"
        " run (audited) records who ran which codec with which parameters"
    )
    __table_args__ = (
        UniqueConstraint("run_id", "image_id", "seed"),
        Index("ix_codec_result_run_id_status", "run_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("codec_run.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``RESULT_ACTIVE_STATUSES`` or ``RESULT_FINAL_STATUSES``."""
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    recon_key: Mapped[str | None] = mapped_column(String(200))
    bits: Mapped[int | None] = mapped_column(BigInteger)
    bpp: Mapped[float | None] = mapped_column(Float)
    bits_source: Mapped[str | None] = mapped_column(String(16))
    encode_s: Mapped[float | None] = mapped_column(Float)
    decode_s: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    maps: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)

    jpeg_status: Mapped[str | None] = mapped_column(String(24))
    jpeg_target_bpp: Mapped[float | None] = mapped_column(Float)
    jpeg_quality: Mapped[int | None] = mapped_column(Integer)
    jpeg_bpp: Mapped[float | None] = mapped_column(Float)
    jpeg_encodes: Mapped[int | None] = mapped_column(Integer)
    jpeg_key: Mapped[str | None] = mapped_column(String(200))
    jpeg_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
