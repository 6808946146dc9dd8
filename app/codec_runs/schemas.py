from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from app.domain import sweeps
from app.domain.bounds import DbId, FiniteFloat, Seed

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


SweptValue = StrictBool | StrictInt | FiniteFloat | Annotated[str, Field(max_length=1000)]


class SweepSpec(BaseModel):
    """Which parameter a sweep varies and its values: a list, or ``"ladder"`` for the
    codec's own ladder (docs/runs.md)."""

    model_config = ConfigDict(extra="forbid")
    param: str = Field(min_length=1, max_length=64)
    values: list[SweptValue] | Literal["ladder"]

    @field_validator("param")
    @classmethod
    def _param_name(cls, param: str) -> str:
        return sweeps.check_param(param)

    @field_validator("values")
    @classmethod
    def _few_scalars(cls, values: list[Any] | str) -> list[Any] | str:
        return values if isinstance(values, str) else sweeps.check_values(values)


class SweepCreate(RunCreate):
    """A run's settings, less the swept parameter, plus the sweep: one run per value."""

    sweep: SweepSpec


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
    sweep_id: int | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: RunProgress | None = None


class SweepRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    dataset_id: int
    codec: str
    param: str
    values: list[Any]
    created_at: datetime
    runs: list[RunRead] = Field(default_factory=list)


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


class CurveRead(BaseModel):
    label: str
    codec: str
    """The codec of the runs; empty for the matched-JPEG references."""
    bpp: list[float]
    psnr: list[float | None]
    ms_ssim: list[float | None]


class BdRead(BaseModel):
    label: str
    anchor: str
    points: int
    """Points of the curve with a PSNR."""
    bd_rate_percent: float | None
    """Negative: fewer bits than the anchor for the same PSNR."""
    bd_psnr_db: float | None
    """Positive: a higher PSNR than the anchor at the same rate."""
    reason: str | None
    """Why a figure is missing."""


class RdReport(BaseModel):
    """The rate-distortion curves of a dataset (or of one of its images) and the
    Bjøntegaard deltas of each against the JPEG anchor."""

    dataset_id: int
    image_id: int | None = None
    method: str
    anchor: str | None
    curves: list[CurveRead]
    bd: list[BdRead]
