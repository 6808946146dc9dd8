"""``guided``: regions where the reconstruction's distortion maps stand out, normalised per
(codec run, half-octave bpp bucket) over the whole study (``crops.bucket_scale``)."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from app.domain import crops
from app.storage import load_rgb
from app.studies.methods import registry
from app.studies.methods.base import TARGETED, Candidate, Context, ProposalMethod, Wanted

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from app.codec_runs.models import CodecResult
    from app.datasets.models import Image
    from app.storage import MediaStorage

MAP_NAMES = ("ciede2000_p95", "ssim_loss_p95", "abs_difference_p95")


class GuidedParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    per_image: int = Field(default=3, ge=1, le=100)
    """Candidates per result and crop size, before the study-wide ranking."""


def _raw_map(storage: MediaStorage, key: str | None, name: str) -> NDArray[np.float32] | None:
    if not key:
        return None
    with np.load(io.BytesIO(storage.read(key))) as archive:
        return np.asarray(archive[name], dtype=np.float32)


def _distortion(
    storage: MediaStorage, result: CodecResult, image: Image
) -> tuple[NDArray[np.float32], ...]:
    """The result's distortion maps: CIEDE2000, 1 - SSIM (stored raw values, or computed
    now when the run did not keep them) and the largest absolute channel difference."""
    from app.domain import metrics

    assert result.recon_key is not None
    original = load_rgb(storage, image.storage_key)
    recon = load_rgb(storage, result.recon_key)
    ciede = _raw_map(storage, result.maps.get("ciede2000_raw"), "ciede2000")
    ssim = _raw_map(storage, result.maps.get("ssim_raw"), "ssim")
    if ciede is None or ssim is None:
        analysis = metrics.analyse(original, recon)
        ciede, ssim = analysis.ciede2000_map, analysis.ssim_map
    difference = np.abs(original.astype(np.int16) - recon).max(axis=2).astype(np.float32)
    return ciede, 1.0 - ssim, difference


class GuidedCrops(ProposalMethod[GuidedParams]):
    name = "guided"
    description = "regions where the distortion maps stand out for their codec and bitrate"
    kind = TARGETED
    fill_order = 10
    params_model = GuidedParams

    def candidates(self, context: Context, params: GuidedParams, wanted: Wanted) -> list[Candidate]:
        buckets: dict[tuple[int, float], list[tuple[CodecResult, Image]]] = defaultdict(list)
        for result, image in context.results:
            bucket = crops.log_bpp_bucket(result.bpp or 0.0)
            buckets[(result.run_id, bucket)].append((result, image))
        candidates: list[Candidate] = []
        scales = {}
        for (run_id, bucket), members in sorted(buckets.items()):
            maps = [_distortion(context.storage, r, i) for r, i in members]
            bucket_scales = [
                crops.bucket_scale([m[k] for m in maps]) for k in range(len(MAP_NAMES))
            ]
            scales[f"run {run_id}, bpp >= {bucket}"] = {
                **{name: round(v, 4) for name, v in zip(MAP_NAMES, bucket_scales, strict=True)},
                "results": len(members),
            }
            for (result, image), result_maps in zip(members, maps, strict=True):
                # A region stands out when any of the three maps does, each on its bucket's
                # scale.
                normalised = np.maximum.reduce(
                    [m / scale for m, scale in zip(result_maps, bucket_scales, strict=True)]
                )
                for size in context.study.crop_sizes:
                    for proposal in crops.guided_crops(normalised, size, top_k=params.per_image):
                        candidates.append(Candidate(result, image, proposal))
        context.report["bucket_scales"] = scales
        return candidates


registry.register(GuidedCrops())
