from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from app.domain import panes as pane_names
from app.domain.bounds import Count, DbId, FiniteFloat, Offset, Seed, Share
from app.domain.crops import DEFAULT_SIZES
from app.domain.names import Name
from app.domain.panes import PaneName
from app.studies.methods import registry
from app.studies.methods.base import QUOTA_FILLED, SAMPLE


def _registered(name: str) -> str:
    registry.get(name)  # UnknownMethod (a ValueError) names the known ones
    return name


def _known_names(schema: dict[str, Any]) -> None:
    schema["enum"] = registry.names()


MethodName = Annotated[str, AfterValidator(_registered), Field(json_schema_extra=_known_names)]
"""A registered proposal method (``app/studies/methods``)."""


def default_methods() -> list[str]:
    return [method.name for method in registry.methods() if method.default]


QuotaName = Literal["guided", "random", "control"]
DEFAULT_QUOTAS: dict[QuotaName, float] = {"guided": 0.6, "random": 0.3, "control": 0.1}


class StudyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=50_000)
    """Markdown shown to annotators."""
    run_ids: list[DbId] = Field(min_length=1, max_length=100)
    versus_run_id: DbId | None = None
    """A second codec run of the same images, shown as the ``versus`` pane beside the study's
    reconstructions (two codecs against each other; blind studies name both A, B...)."""
    crop_sizes: list[int] = Field(default_factory=lambda: list(DEFAULT_SIZES), min_length=1)
    methods: list[MethodName] = Field(default_factory=default_methods)
    method_params: dict[MethodName, dict[str, Any]] = Field(default_factory=dict)
    """Parameters of the chosen methods (``miscomp studies methods`` lists them); the rest
    keep their defaults."""
    items: int = Field(default=300, ge=1, le=1_000_000)
    quotas: dict[QuotaName, Share] = Field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    planted_controls: bool = False
    raters_per_item: int = Field(default=3, ge=1, le=50)
    per_rater_cap: Count | None = None
    lease_s: int = Field(default=900, ge=10, le=7 * 86_400)
    blind: bool = True
    panes: list[PaneName] = Field(default_factory=lambda: list(pane_names.DEFAULT))
    seed: Seed = 0
    taxonomy_version_id: DbId | None = None
    region_iou: FiniteFloat = Field(default=0.5, gt=0, le=1)
    """Boxes of different raters on an item are one region from this IoU up."""
    qualification_items: int = Field(default=0, ge=0, le=1000)
    """Control items a rater answers, with feedback, before any real item (0: none)."""
    qualification_pass: Share = 0.8
    """The share of the qualification round a rater must get right."""

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
        chosen = registry.methods(self.methods)
        for quota in QUOTA_FILLED.values():
            if shares.get(quota) and not any(m.quota == quota for m in chosen):
                able = " or ".join(m.name for m in registry.methods() if m.quota == quota)
                raise ValueError(f"a {quota} quota needs the {able} method")
        if len([m for m in chosen if m.kind == SAMPLE]) > 1:
            raise ValueError("choose one sample method: the random quota is one sample design")
        if "original" not in self.panes or "reconstruction" not in self.panes:
            raise ValueError("panes must include the original and the reconstruction")
        if self.versus_run_id is not None and "versus" not in self.panes:
            self.panes = [*self.panes, "versus"]
        if "versus" in self.panes and self.versus_run_id is None:
            raise ValueError("the versus pane needs a versus run (versus_run_id)")
        if self.versus_run_id in self.run_ids:
            raise ValueError("the versus run must be another run than the study's runs")
        controls = self.control_items()
        if self.qualification_items > controls:
            raise ValueError(
                f"the qualification round asks for {self.qualification_items} control items, "
                f"but the study will have only {controls} ({self.quotas.get('control', 0):.0%} "
                f"of {self.items} items): ask for fewer qualification items, or more controls"
            )
        self.panes = list(dict.fromkeys(self.panes))
        self.methods = list(dict.fromkeys(self.methods))
        self.method_params = {
            name: registry.validated_params(name, params, chosen=self.methods)
            for name, params in self.method_params.items()
        }
        return self

    def control_items(self) -> int:
        """The control items the study will have, as the proposal counts them."""
        return round(self.items * self.quotas.get("control", 0.0))


Percent = Annotated[float, AllowInfNan(False), Interval(ge=0, le=100)]


class StudyForm(BaseModel):
    """The numbers of the study form that StudyCreate holds in other units: quotas typed in
    percent (shares there), the lease in minutes (seconds there), no cap as an empty field;
    and the items, which an emptied field must not silently set to StudyCreate's default."""

    model_config = ConfigDict(extra="forbid")
    items: int
    """Checked against its bounds by StudyCreate."""
    quota_guided: Percent
    quota_random: Percent
    quota_control: Percent
    per_rater_cap: Count | None
    lease_min: Annotated[float, AllowInfNan(False), Interval(ge=0, le=7 * 24 * 60)]
    qualification_pass: Percent

    @field_validator("per_rater_cap", mode="before")
    @classmethod
    def _blank_is_no_cap(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("items", mode="before")
    @classmethod
    def _items_given(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("say how many items the study should propose (at least 1)")
        return value

    def study_fields(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "quotas": {
                "guided": self.quota_guided / 100,
                "random": self.quota_random / 100,
                "control": self.quota_control / 100,
            },
            "per_rater_cap": self.per_rater_cap,
            "lease_s": round(self.lease_min * 60),
            "qualification_pass": self.qualification_pass / 100,
        }


class StudyProgress(BaseModel):
    items: int
    ratings_needed: int
    ratings_done: int
    leased: int
    remaining: int
    """Ratings neither done nor leased."""
    complete_items: int
    late: int
    """Ratings kept but never counted: submitted after their lease expired, when other raters
    had completed the item meanwhile."""


class StudyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    instructions: str
    status: str
    error: str | None
    run_ids: list[int]
    versus_run_id: int | None = None
    crop_sizes: list[int]
    methods: list[str]
    method_params: dict[str, dict[str, Any]]
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
    label_source: str = "people"
    """people, or simulated (then ``simulation`` holds the simulated raters' settings)."""
    simulation: dict[str, Any] | None = None
    region_iou: float = 0.5
    members_only: bool = False
    """True: only the study's members (listed users and groups) may annotate it."""
    qualification_items: int = 0
    """Control items of the qualification round a rater passes before real items (0: none)."""
    qualification_pass: float = 0.8
    progress: StudyProgress | None = None


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: Name
    label: Name
    description: str
    shortcut: str
    kind: Literal["category", "modifier"] = "category"


class CategoryRow(BaseModel):
    """A row of the taxonomy edit form, as typed (``app/domain/taxonomy.py`` judges it)."""

    model_config = ConfigDict(extra="forbid")
    key: Name = Field(default="", max_length=40)
    label: Name = Field(default="", max_length=100)
    kind: str = Field(default="category", max_length=16)
    shortcut: Name = Field(default="", max_length=8)
    description: str = Field(default="", max_length=5000)
    example: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    """The sha256 of a stored example crop (``taxonomies.store_example``)."""
    remove: bool = False
    remove_example: bool = False

    def is_blank(self) -> bool:
        """A row left empty (the form's row for a new category): not a category."""
        return not (self.key or self.label or self.shortcut or self.description or self.example)


MAX_BOXES = 50


class LabelBox(BaseModel):
    """A region the rater drew, in crop pixels; ``pane`` is the label the rater saw it under
    ("original", "A", ...), which the server maps back to the pane's name."""

    model_config = ConfigDict(extra="forbid")
    pane: str = Field(min_length=1, max_length=32)
    x: Offset
    y: Offset
    w: Count
    h: Count


class AnnotationSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    """Generated by the browser once per submission (idempotency key)."""
    verdict: str = Field(min_length=1, max_length=32)
    categories: list[str] = Field(default_factory=list, max_length=20)
    modifiers: list[str] = Field(default_factory=list, max_length=20)
    original_shows: str = Field(default="", max_length=500)
    compressed_shows: str = Field(default="", max_length=500)
    confidence: int | None = Field(default=None, ge=1, le=5)
    seen_in: list[str] = Field(default_factory=list, max_length=10)
    """Pane labels as the rater saw them ("A", "B" in a blind study)."""
    boxes: list[LabelBox] = Field(default_factory=list, max_length=MAX_BOXES)
    note: str = Field(default="", max_length=5000)
    time_spent_ms: int | None = Field(default=None, ge=0, le=86_400_000)


class AnnotationEdit(AnnotationSubmit):
    base_revision: Count
    """The revision the edit was made from: a stale edit is refused, not silently merged."""


class AdjudicationCreate(BaseModel):
    """A researcher's final label for an item."""

    model_config = ConfigDict(extra="forbid")
    verdict: str = Field(min_length=1, max_length=32)
    categories: list[str] = Field(default_factory=list, max_length=20)
    modifiers: list[str] = Field(default_factory=list, max_length=20)
    note: str = Field(default="", max_length=5000)
