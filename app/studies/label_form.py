"""The workspace's label form as the browser sends it, turned into the fields of
``AnnotationSubmit`` (the API takes those directly)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form
from pydantic import BaseModel, ConfigDict

from app.domain.bounds import Count, JsonRefused, parse_json
from app.errors import InvalidInput


class LabelForm(BaseModel):
    """The workspace's form, as the browser sends it (the API takes ``AnnotationSubmit``)."""

    model_config = ConfigDict(extra="ignore")
    client_id: str
    verdict: str = ""
    categories: list[str] = []
    modifiers: list[str] = []
    seen_in: list[str] = []
    original_shows: str = ""
    compressed_shows: str = ""
    confidence: str = ""
    boxes: str = "[]"
    """JSON list of {pane, x, y, w, h}, kept up to date by the viewer."""
    note: str = ""
    shown_at_ms: int = 0
    base_revision: Count | None = None
    then: str = ""
    """After a revision: "next" (revised from the item's own page) goes on to the rater's
    next item; anything else to their history."""

    def labels(self) -> dict[str, Any]:
        """The fields of ``AnnotationSubmit``; raises InvalidInput on what no form control
        produces (a verdict left out, boxes that are not JSON)."""
        if not self.verdict:
            raise InvalidInput("choose a verdict: miscompression, no miscompression or unsure")
        try:
            boxes = parse_json(self.boxes or "[]", field="boxes")
        except JsonRefused:
            raise InvalidInput("the boxes could not be read; draw them again") from None
        if not isinstance(boxes, list):
            raise InvalidInput("the boxes could not be read; draw them again")
        if self.confidence and self.confidence not in "12345":
            raise InvalidInput("confidence is 1 to 5")
        return {
            "client_id": self.client_id,
            "verdict": self.verdict,
            "categories": self.categories,
            "modifiers": self.modifiers,
            "seen_in": self.seen_in,
            "original_shows": self.original_shows,
            "compressed_shows": self.compressed_shows,
            "confidence": int(self.confidence) if self.confidence else None,
            "boxes": boxes,
            "note": self.note,
        }

    def values(self) -> dict[str, Any]:
        """What the rater entered, to show the form again after a refusal."""
        try:
            boxes = parse_json(self.boxes or "[]", field="boxes")
        except JsonRefused:
            boxes = []
        return {**self.model_dump(), "boxes": boxes if isinstance(boxes, list) else []}


LabelFormDep = Annotated[LabelForm, Form()]
