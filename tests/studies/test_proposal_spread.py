"""Items are spread over the images for every method: a targeted method whose best candidates
all lie on one image (a brick texture that OCR reads as text) fills at most twice that
image's fair share, and the other images fill the rest; random crops give each image its
area's share. In memory, no database: the study, results and images are unsaved rows, as
proposing reads them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.codec_runs.models import CodecResult
from app.datasets.models import Image
from app.domain import crops
from app.storage import LocalMediaStorage
from app.studies import proposals
from app.studies.methods import registry
from app.studies.methods.base import (
    TARGETED,
    Candidate,
    Context,
    NoParams,
    ProposalMethod,
    Wanted,
)
from app.studies.models import Study

FOOLED = 1
"""The image whose texture the method scores highest everywhere."""


class TextureFooled(ProposalMethod[NoParams]):
    """Thirty strong candidates on one image, three weak ones on every other."""

    name = "fooled"
    description = "a method fooled by one image's texture (a test method)"
    kind = TARGETED
    default = False
    params_model = NoParams

    def candidates(self, context: Context, params: NoParams, wanted: Wanted) -> list[Candidate]:
        found = []
        for result, image in context.results:
            strong = image.id == FOOLED
            for k in range(30 if strong else 3):
                box = crops.Box(k * 4, 0, 32)
                score = 10.0 - k * 0.01 if strong else 1.0 - k * 0.01
                found.append(Candidate(result, image, crops.Proposal(box, self.name, score)))
        return found


@pytest.fixture
def fooled() -> Iterator[None]:
    registry.register(TextureFooled())
    try:
        yield
    finally:
        registry.unregister(TextureFooled.name)


def _context(tmp_path: Path, methods: list[str], quotas: dict[str, float]) -> Context:
    results = []
    for image_id in range(1, 7):
        image = Image(id=image_id, width=160 + 40 * image_id, height=120)
        results.append((CodecResult(id=image_id, image_id=image_id, bpp=0.3), image))
    study = Study(
        items_target=24,
        quotas=quotas,
        crop_sizes=[32],
        methods=methods,
        method_params={},
        planted_controls=False,
    )
    return Context(study, LocalMediaStorage(tmp_path), results)


def test_no_image_takes_more_than_twice_its_share_of_the_targeted_items(
    fooled: None, tmp_path: Path
) -> None:
    context = _context(tmp_path, ["fooled"], {"guided": 1.0})
    chosen = proposals.select_items(context, np.random.default_rng(0))
    per_image = Counter(c.image.id for c in chosen)
    cap = proposals.image_cap(24, 6)
    assert cap == 8 and context.report["per_image_cap"] == cap
    assert per_image[FOOLED] == cap  # its best candidates, up to the cap
    assert sum(per_image.values()) == 8 + 5 * 3  # every other image's candidates fill in
    assert context.report["shortfall"] == {"guided": 1}  # reported, never padded


def test_random_crops_give_each_image_its_share_of_positions(tmp_path: Path) -> None:
    context = _context(tmp_path, ["random"], {"random": 1.0})
    positions = {
        image.id: crops.random_positions(image.width, image.height, 32)
        for _, image in context.results
    }
    total = sum(positions.values())
    for seed in range(50):
        chosen = proposals.select_items(context, np.random.default_rng(seed))
        per_image = Counter(c.image.id for c in chosen)
        assert sum(per_image.values()) == 24
        for image_id, units in positions.items():
            share = 24 * units / total
            assert int(np.floor(share)) <= per_image[image_id] <= int(np.ceil(share))
