"""``text``: words that OCR (Tesseract) reads differently in the original and the
reconstruction, strong SYMBOL candidates with the text before and after as evidence."""

from __future__ import annotations

from app.domain import crops
from app.storage import load_rgb
from app.studies.methods import registry
from app.studies.methods.base import (
    TARGETED,
    Candidate,
    Context,
    NoParams,
    ProposalMethod,
    Wanted,
)


class TextCrops(ProposalMethod[NoParams]):
    name = "text"
    description = "words that OCR reads differently after compression"
    kind = TARGETED
    fill_order = 0
    """First: a changed word is the strongest evidence proposing has."""
    params_model = NoParams

    def candidates(self, context: Context, params: NoParams, wanted: Wanted) -> list[Candidate]:
        from app.domain.ocr import OcrUnavailable, TesseractOcr

        try:
            ocr = TesseractOcr()
        except OcrUnavailable as exc:
            context.report["ocr"] = f"unavailable: {exc}"
            return []
        context.report["ocr"] = ocr.version()
        originals: dict[int, list[crops.Word]] = {}
        candidates = []
        for result, image in context.results:
            if image.id not in originals:
                originals[image.id] = ocr.read(load_rgb(context.storage, image.storage_key))
            if not originals[image.id]:
                continue  # no text in the original; new text alone is left to the guided crops
            assert result.recon_key is not None
            after = ocr.read(load_rgb(context.storage, result.recon_key))
            for size in context.study.crop_sizes:
                for proposal in crops.text_crops(
                    originals[image.id], after, size, image.width, image.height
                ):
                    candidates.append(Candidate(result, image, proposal))
        return candidates


registry.register(TextCrops())
