from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.domain.names import Name


class DatasetCreate(BaseModel):
    name: Name = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    source: str = Field(default="", max_length=2_000)
    license: str = Field(default="", max_length=5_000)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class DatasetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    source: str
    license: str
    created_at: datetime
    image_count: int = 0


class ImageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    dataset_id: int
    filename: str
    width: int
    height: int
    format: str
    original_mode: str
    source_sha256: str
    pixels_sha256: str
    source_bytes: int
    notes: list[str]
    created_at: datetime


class ImagePage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[ImageRead]


class ImportFileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    position: int
    name: str
    outcome: str
    message: str
    image_id: int | None


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    dataset_id: int
    status: str
    source_kind: str
    source_label: str
    total: int
    processed: int
    n_imported: int
    n_duplicate: int
    n_failed: int
    n_skipped: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportReport(ImportRead):
    files: list[ImportFileRead]
