"""Detector crops estimate prevalence without bias, agree with random crops, and show raters
far more miscompressions: over many studies proposed by the real sampler
(``proposals.select_items`` with the ``detector`` method's sampling) on the world of
``test_prevalence_design``, whose truth is known. The detector's scores are the truth seen
through noise (a registered test method overrides where the scores come from, nothing else),
so the test measures the design, not a trained model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.codec_runs.models import CodecResult
from app.datasets.models import Image
from app.domain import crops, prevalence
from app.storage import LocalMediaStorage
from app.studies import proposals
from app.studies.methods import registry
from app.studies.methods.base import Context
from app.studies.methods.detector import DetectorCrops
from app.studies.models import Study
from tests.studies.test_prevalence_design import (
    CROP_SIZES,
    ITEMS,
    OUTCOME,
    RATERS,
    SENSITIVITY,
    SPECIFICITY,
    _world,
    true_prevalence,
)

STUDIES = 400
"""Replications: coverage is pooled over 1,600 intervals (one standard error 0.54 %)."""
BOOTSTRAP = 300


class NoisyTruthDetector(DetectorCrops):
    """The detector method with scores that are the truth seen through noise: a cell whose
    crops hold a miscompression scores about 1, others about 0.1, each times a log-normal
    error."""

    name = "noisy-detector"
    description = "the detector's sampling over noisy true scores (a test method)"
    truth: dict[tuple[CodecResult, int], np.ndarray] = {}

    def position_scores(
        self, context: Context, result: CodecResult, image: Image, size: int, stride: int
    ) -> np.ndarray:
        key = ("scores", id(result), size, stride)
        if key not in context.scratch:
            found = self.truth[(result, size)]
            rows, columns = found.shape
            cells = np.zeros((-(-rows // stride), -(-columns // stride)))
            for i in range(cells.shape[0]):
                for j in range(cells.shape[1]):
                    cell = found[i * stride : (i + 1) * stride, j * stride : (j + 1) * stride]
                    cells[i, j] = cell.mean()
            noise = np.random.default_rng(result.id * 100 + size).lognormal(0, 0.5, cells.shape)
            context.scratch[key] = (0.1 + cells) * noise
        scores: np.ndarray = context.scratch[key]
        return scores

    def crop_evidence(
        self, context: Context, result: CodecResult, image: Image, box: crops.Box
    ) -> dict[str, Any]:
        return {}


@pytest.fixture
def noisy_detector() -> Iterator[type[NoisyTruthDetector]]:
    registry.register(NoisyTruthDetector())
    try:
        yield NoisyTruthDetector
    finally:
        registry.unregister(NoisyTruthDetector.name)


def _study(method: str) -> Study:
    return Study(
        items_target=ITEMS,
        quotas={"random": 1.0},
        crop_sizes=list(CROP_SIZES),
        methods=[method],
        method_params={},
        planted_controls=False,
    )


def test_detector_crops_estimate_the_random_crops_prevalence_without_bias_and_find_more(
    noisy_detector: type[NoisyTruthDetector], tmp_path: Path
) -> None:
    results, stratum, truth_maps = _world(np.random.default_rng(16))
    noisy_detector.truth = truth_maps
    truth = true_prevalence(stratum, truth_maps)
    storage = LocalMediaStorage(tmp_path)
    contexts = {m: Context(_study(m), storage, results) for m in ("random", "noisy-detector")}
    estimates: dict[str, dict[Any, list[float]]] = {m: {k: [] for k in truth} for m in contexts}
    found_per_item = dict.fromkeys(contexts, 0)
    covered = 0
    for replication in range(STUDIES):
        for method, context in contexts.items():
            draw = np.random.default_rng(replication)
            chosen = proposals.select_items(context, draw)
            assert len(chosen) == ITEMS
            where = [(c.result, c.proposal) for c in chosen]
            assert all(p.method == method and p.inclusion_probability for _, p in where)
            true = np.array([truth_maps[(r, p.box.size)][p.box.y, p.box.x] for r, p in where])
            found_per_item[method] += int(true.sum())
            says = np.where(true, SENSITIVITY, 1 - SPECIFICITY)
            shares = (draw.random((ITEMS, RATERS)) < says[:, None]).mean(axis=1)
            items = [
                prevalence.ItemOutcome(
                    *stratum[r],
                    method=prevalence.RANDOM,
                    inclusion_probability=p.inclusion_probability,
                    shares={OUTCOME: float(share)},
                )
                for (r, p), share in zip(where, shares, strict=True)
            ]
            for row in prevalence.estimate(
                items, [OUTCOME], replicates=BOOTSTRAP, seed=replication
            ):
                key = (row.codec, row.bpp_bucket)
                assert row.estimate.value is not None and row.estimate.ci is not None
                estimates[method][key].append(row.estimate.value)
                if method != "random":
                    low, high = row.estimate.ci
                    covered += low <= truth[key] <= high
    for method, by_stratum in estimates.items():
        for key, values in by_stratum.items():
            assert len(values) == STUDIES, (method, key)
            mean, error = np.mean(values), np.std(values, ddof=1) / np.sqrt(STUDIES)
            assert abs(mean - truth[key]) <= 4 * error, (method, key, mean, truth[key], error)
    # The two designs estimate the same prevalence: their means agree within their errors.
    for key in truth:
        a, b = (np.array(estimates[m][key]) for m in contexts)
        joint = np.sqrt(a.var(ddof=1) / STUDIES + b.var(ddof=1) / STUDIES)
        assert abs(a.mean() - b.mean()) <= 4 * joint, key
    coverage = covered / (len(truth) * STUDIES)
    assert 0.92 <= coverage <= 0.98, coverage
    # What raters gain: far more of the crops they look at hold a miscompression.
    assert found_per_item["noisy-detector"] >= 1.5 * found_per_item["random"], found_per_item
