from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.crops import DEFAULT_SIZES

MethodName = Literal["guided", "text", "random"]
PaneName = Literal["original", "reconstruction", "jpeg", "difference"]
ALL_METHODS: tuple[MethodName, ...] = ("guided", "text", "random")
DEFAULT_PANES: tuple[PaneName, ...] = ("original", "reconstruction", "jpeg")
QuotaName = Literal["guided", "random", "control"]
DEFAULT_QUOTAS: dict[QuotaName, float] = {"guided": 0.6, "random": 0.3, "control": 0.1}


class StudyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=50_000)
    """Markdown shown to annotators."""
    run_ids: list[int] = Field(min_length=1, max_length=100)
    crop_sizes: list[int] = Field(default_factory=lambda: list(DEFAULT_SIZES), min_length=1)
    methods: list[MethodName] = Field(default_factory=lambda: list(ALL_METHODS))
    items: int = Field(default=300, ge=1, le=1_000_000)
    quotas: dict[QuotaName, float] = Field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    planted_controls: bool = False
    raters_per_item: int = Field(default=3, ge=1, le=50)
    per_rater_cap: int | None = Field(default=None, ge=1)
    lease_s: int = Field(default=900, ge=10, le=7 * 86_400)
    blind: bool = True
    panes: list[PaneName] = Field(default_factory=lambda: list(DEFAULT_PANES))
    seed: int = 0
    taxonomy_version_id: int | None = None

    @field_validator("crop_sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        if any(not 16 <= s <= 2048 for s in sizes):
            raise ValueError("crop sizes must be 16 to 2048 pixels")
        return sorted(set(sizes))

    @model_validator(mode="after")
    def _consistent(self) -> StudyCreate:
        shares = {k: v for k, v in self.quotas.items() if v}
        if any(v < 0 for v in self.quotas.values()) or abs(sum(self.quotas.values()) - 1) > 1e-6:
            raise ValueError("quotas must be non-negative shares that sum to 1")
        if shares.get("guided") and not {"guided", "text"} & set(self.methods):
            raise ValueError("a guided quota needs the guided or text method")
        if shares.get("random") and "random" not in self.methods:
            raise ValueError("a random quota needs the random method")
        if "original" not in self.panes or "reconstruction" not in self.panes:
            raise ValueError("panes must include the original and the reconstruction")
        self.panes = list(dict.fromkeys(self.panes))
        self.methods = list(dict.fromkeys(self.methods))
        return self


class StudyProgress(BaseModel):
    items: int
    ratings_needed: int
    ratings_done: int
    leased: int
    complete_items: int


class StudyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    instructions: str
    status: str
    error: str | None
    run_ids: list[int]
    crop_sizes: list[int]
    methods: list[str]
    items_target: int
    quotas: dict[str, float]
    planted_controls: bool
    raters_per_item: int
    per_rater_cap: int | None
    lease_s: int
    blind: bool
    panes: list[str]
    seed: int
    taxonomy_version_id: int
    created_at: datetime
    proposal_report: dict[str, Any]
    progress: StudyProgress | None = None


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    label: str
    description: str
    shortcut: str
    kind: Literal["category", "modifier"] = "category"
