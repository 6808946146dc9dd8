from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.domain.exports import formats


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str = Field(default="jsonl", max_length=16)
    all_revisions: bool = False
    """Every revision of every annotation, not only the current one."""
    names: bool = False
    """The raters' usernames beside their pseudonyms."""
    include_originals: bool = False
    """The full original images in a bundle (``format`` bundle only)."""

    @field_validator("format")
    @classmethod
    def _known(cls, value: str) -> str:
        formats.study_format(value)  # a ValueError naming the known formats
        return value


class ExportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    study_id: int
    format: str
    all_revisions: bool
    names: bool
    include_originals: bool
    status: str
    done: int
    """Records written (a bundle: records of each record file, then crop items)."""
    total: int
    size_bytes: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = None
    """Where the finished file is (``None`` until it is done)."""
