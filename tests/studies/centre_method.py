"""A proposal method that exists only for tests: the centre crop of each result. It is what a
new method is (one module, its own parameters) but it is not in ``app/studies/methods``, so
the registry does not find it: tests register it and unregister it afterwards."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.domain import crops
from app.studies.methods.base import TARGETED, Candidate, Context, ProposalMethod, Wanted


class CentreParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    score: float = Field(default=0.5, gt=0)
    """The score of every centre crop (targeted candidates are ranked by it)."""


class CentreCrops(ProposalMethod[CentreParams]):
    name = "centre"
    description = "the centre crop of each reconstruction (a test method)"
    kind = TARGETED
    fill_order = 50
    default = False
    params_model = CentreParams

    def candidates(self, context: Context, params: CentreParams, wanted: Wanted) -> list[Candidate]:
        found = []
        for result, image in context.results:
            width, height = image.width, image.height
            for size in context.study.crop_sizes:
                if crops.fits(size, width, height):
                    box = crops.Box.centred(width / 2, height / 2, size, width, height)
                    proposal = crops.Proposal(box, self.name, params.score)
                    found.append(Candidate(result, image, proposal))
        return found
