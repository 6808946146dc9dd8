"""``detector``: crops drawn with probability proportional to the learned detector's score
(``app/detector``), mixed with a floor, so that every crop position keeps a known non-zero
inclusion probability. A design-based sample like ``random`` (``app/domain/sampling.py``):
its crops are weighted by the inverse of their probability and estimate prevalence without
bias, while raters see far more real miscompressions per hour."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from app.domain import crops, sampling
from app.studies.methods import registry
from app.studies.methods.base import SAMPLE, Candidate, Context, ProposalMethod, Wanted

if TYPE_CHECKING:
    from app.codec_runs.models import CodecResult
    from app.datasets.models import Image


class DetectorParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    floor: float = Field(default=0.2, gt=0, le=1)
    """The share of each position's probability that stays uniform: no position is drawn
    with less than this times the probability a random crop has."""
    stride: int = Field(default=8, ge=1, le=64)
    """Crop positions are scored in cells of this many pixels a side."""


class DetectorCrops(ProposalMethod[DetectorParams]):
    name = "detector"
    description = (
        "crops drawn in proportion to the learned detector's score, with a floor "
        "(each with its inclusion probability: prevalence stays unbiased)"
    )
    kind = SAMPLE
    default = False
    params_model = DetectorParams

    def position_scores(
        self, context: Context, result: CodecResult, image: Image, size: int, stride: int
    ) -> NDArray[np.float32]:
        """The score of the crops of side ``size`` at each cell of ``stride`` positions."""
        grid: NDArray[np.float32] = self._maps(context, result, image).crop_grid(size, stride)
        return grid

    def crop_evidence(
        self, context: Context, result: CodecResult, image: Image, box: crops.Box
    ) -> dict[str, Any]:
        return {"detector": self._maps(context, result, image).crop_scores(box.x, box.y, box.size)}

    def _maps(self, context: Context, result: CodecResult, image: Image) -> Any:
        from app.storage import load_rgb

        cache: dict[int, Any] = context.scratch.setdefault(self.name, {})
        if result.id not in cache:
            assert result.recon_key is not None
            original = load_rgb(context.storage, image.storage_key)
            recon = load_rgb(context.storage, result.recon_key)
            cache.clear()  # one result's maps at a time: crops are drawn result by result
            cache[result.id] = _detector().score(original, recon)
            context.report.setdefault("detector", _detector_card())
        return cache[result.id]

    def candidates(
        self, context: Context, params: DetectorParams, wanted: Wanted
    ) -> list[Candidate]:
        sizes = list(wanted.per_size)
        usable = {
            size: [(r, i) for r, i in context.results if crops.fits(size, i.width, i.height)]
            for size in sizes
        }
        # Result by result, every crop size's grid: each result's pixels are scored once.
        grids: dict[int, list[sampling.Grid]] = {size: [] for size in sizes}
        for result, image in context.results:
            for size in sizes:
                if crops.fits(size, image.width, image.height):
                    scores = self.position_scores(context, result, image, size, params.stride)
                    grids[size].append(sampling.Grid(scores, params.stride))
        drawn: list[tuple[int, sampling.Drawn]] = []
        for size, count in wanted.per_size.items():
            dimensions = [(i.width, i.height) for _, i in usable[size]]
            drawn += [
                (size, crop)
                for crop in sampling.crops_across(
                    dimensions, size, count, wanted.rng, grids[size], floor=params.floor
                )
            ]
        units = {
            size: sum(crops.random_positions(i.width, i.height, size) for _, i in usable[size])
            for size in sizes
        }
        # The evidence result by result too, so that each result is scored once more at most.
        drawn.sort(key=lambda pair: usable[pair[0]][pair[1].index][0].id)
        found: list[Candidate] = []
        for size, crop in drawn:
            result, image = usable[size][crop.index]
            box = crops.Box(crop.x, crop.y, size)
            evidence = self.crop_evidence(context, result, image, box)
            proposal = crops.Proposal(
                box,
                self.name,
                float(evidence.get("detector", {}).get("miscompression", 0.0)),
                inclusion_probability=crop.probability,
                evidence={"units": units[size], **evidence},
            )
            found.append(Candidate(result, image, proposal))
        context.scratch.pop(self.name, None)
        return found


def _detector() -> Any:
    """The configured detector (``model.load`` keeps it once per process)."""
    from app.config import get_settings
    from app.detector import model

    return model.load(get_settings().detector_weights, model.pick_device("auto"))


def _detector_card() -> dict[str, Any]:
    card = _detector().card
    return {"name": card.get("name"), "path": str(_detector().path), "seed": card.get("seed")}


registry.register(DetectorCrops())
