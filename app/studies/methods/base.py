"""What a crop-proposal method declares, and what proposing hands it.

A method is ``targeted`` (its candidates are ranked by score and compete for the guided
quota, as guided and text crops do) or a ``sample`` (a design-based draw that fills the random
quota; each crop carries its inclusion probability, which prevalence estimates weight by).

Light at import: the web process lists methods (the study form, validation) and must not pay
for, or import, what proposing needs (pixels, OCR, models). Method modules import their heavy
dependencies inside ``candidates``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from app.domain import crops

if TYPE_CHECKING:
    import numpy as np

    from app.codec_runs.models import CodecResult
    from app.datasets.models import Image
    from app.storage import MediaStorage
    from app.studies.models import Study

MethodKind = Literal["targeted", "sample"]
TARGETED: MethodKind = "targeted"
SAMPLE: MethodKind = "sample"
FilledQuota = Literal["guided", "random"]
QUOTA_FILLED: dict[MethodKind, FilledQuota] = {TARGETED: "guided", SAMPLE: "random"}
"""The study quota that each kind of method fills."""
NAME_LENGTH = 16
"""The longest method name: ``study_item.method`` holds it."""
CONTROL = "control"
"""The method name of control items, which proposing adds itself: no method may take it."""


@dataclass
class Candidate:
    result: CodecResult
    image: Image
    proposal: crops.Proposal
    kind: str = "crop"
    """crop, or control_identity / control_planted (set by proposing, never by a method)."""


@dataclass
class Context:
    """What proposing keeps in memory per result: pixels are loaded on demand."""

    study: Study
    storage: MediaStorage
    results: list[tuple[CodecResult, Image]]
    report: dict[str, Any] = field(default_factory=dict)
    """The study's proposal report: a method may add its own keys (the OCR engine, scales)."""
    versus: dict[int, CodecResult] = field(default_factory=dict)
    """Image id -> the versus run's result for it (studies with a versus run)."""
    scratch: dict[str, Any] = field(default_factory=dict)
    """Working memory of the methods while proposing (a detector's score maps): not stored."""

    def uniform_crops(self, size: int, count: int, rng: np.random.Generator) -> list[Candidate]:
        """``count`` crops of side ``size`` drawn uniformly without replacement from every
        position of every result (random crops, and the places of controls)."""
        dimensions = [(image.width, image.height) for _, image in self.results]
        return [
            Candidate(*self.results[index], proposal)
            for index, proposal in crops.random_crops_across(dimensions, size, count, rng)
        ]


@dataclass(frozen=True)
class Wanted:
    """How many items the method's quota leaves per crop size, and the study's random
    generator (seeded by the study, so that proposing is reproducible: a method that draws
    must draw only from it). A sample draws exactly this many; a targeted method may ignore
    it (proposing takes the best of its candidates) or use it to bound its work."""

    per_size: dict[int, int]
    rng: np.random.Generator


class NoParams(BaseModel):
    """The parameters of a method that has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


class ProposalMethod(ABC, Generic[P]):
    """One way of proposing crops. Subclasses set the class attributes and register one
    instance with ``registry.register``."""

    name: ClassVar[str]
    """Stored on every item it proposes (``study_item.method``) and named in ``methods``."""
    description: ClassVar[str]
    """One line, shown beside the name in the study form and the CLI."""
    kind: ClassVar[MethodKind]
    fill_order: ClassVar[int] = 100
    """Targeted methods fill the guided quota in this order, lowest first: each one's best
    candidates before the next one's."""
    default: ClassVar[bool] = True
    """Used by a study that names no methods."""
    params_model: type[P]
    """Its parameters, with their defaults (a pydantic model; ``NoParams`` for none)."""

    @property
    def quota(self) -> FilledQuota:
        return QUOTA_FILLED[self.kind]

    @abstractmethod
    def candidates(self, context: Context, params: P, wanted: Wanted) -> list[Candidate]:
        """Crops of ``context.results`` in the study's crop sizes, each ``Proposal`` named
        after the method and carrying its inclusion probability where the method has one."""
