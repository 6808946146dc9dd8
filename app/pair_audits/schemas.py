from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class PairAuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    result_id: int | None
    bpp: float | None
    status: str
    """queued, running, done or failed."""
    error: str | None
    report: dict[str, Any]
    """Once done: the regions most likely miscompressed (each with its category scores),
    the text OCR reads differently, the metrics, the pair's risk and the keys of its images
    (``app/detector/audit.py``); empty before."""
    created_at: datetime
    finished_at: datetime | None
    page_url: str = ""
    """The audit's page, with the pair, the score map and each region pixel-exact."""
