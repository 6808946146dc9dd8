"""``random``: crops drawn per crop size from every (result, position) unit of the study,
uniformly without replacement, so each carries its exact inclusion probability (n / units)
and random crops estimate prevalence (``app/domain/prevalence.py``)."""

from __future__ import annotations

from app.studies.methods import registry
from app.studies.methods.base import SAMPLE, Candidate, Context, NoParams, ProposalMethod, Wanted


class RandomCrops(ProposalMethod[NoParams]):
    name = "random"
    description = "uniform random crops, each with its inclusion probability (prevalence)"
    kind = SAMPLE
    params_model = NoParams

    def candidates(self, context: Context, params: NoParams, wanted: Wanted) -> list[Candidate]:
        return [
            candidate
            for size, count in wanted.per_size.items()
            for candidate in context.uniform_crops(size, count, wanted.rng)
        ]


registry.register(RandomCrops())
