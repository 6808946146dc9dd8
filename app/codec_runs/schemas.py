from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.bounds import DbId, Seed

MapName = Literal["difference", "ssim", "ciede2000"]
ALL_MAPS: list[MapName] = ["difference", "ssim", "ciede2000"]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: DbId
    codec: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1, max_length=100)
    image_ids: list[DbId] | None = Field(default=None, max_length=10_000)
    """A chosen subset of the dataset (None: every image); each id is one query parameter."""
    match_jpeg: bool | None = None
    """Default: on for neural codecs, off for the classical ones."""
    jpeg_params: dict[str, Any] = Field(default_factory=dict)
    maps: list[MapName] = Field(default_factory=lambda: list(ALL_MAPS))


class RunProgress(BaseModel):
    total: int
    done: int
    failed: int
    invalid: int
    cancelled: int
    active: int
    images_per_s: float | None
    eta_s: float | None

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.invalid + self.cancelled


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    dataset_id: int
    codec: str
    params: dict[str, Any]
    seeds: list[int]
    image_ids: list[int] | None
    match_jpeg: bool
    jpeg_params: dict[str, Any]
    maps: list[str]
    queue: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: RunProgress | None = None


class ResultRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    image_id: int
    image_filename: str = ""
    seed: int
    status: str
    error: str | None
    recon_path: str | None = None
    bits: int | None
    bpp: float | None
    bits_source: str | None
    encode_s: float | None
    decode_s: float | None
    device: str | None
    metrics: dict[str, Any]
    maps: dict[str, str]
    environment: dict[str, Any]
    jpeg_status: str | None
    jpeg_target_bpp: float | None
    jpeg_quality: int | None
    jpeg_bpp: float | None
    jpeg_encodes: int | None
    jpeg_path: str | None = None
    jpeg_metrics: dict[str, Any]


class RunReport(RunRead):
    results: list[ResultRead]
