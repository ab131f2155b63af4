"""Request and response bodies of the JSON API (validated by Pydantic at the edge)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns on PostgreSQL


class QueueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(5, ge=0, le=100, description="how many images to lease")


class TopClass(BaseModel):
    label: str = Field(alias="class")
    p: float
    model_config = ConfigDict(populate_by_name=True)


class QueueItem(BaseModel):
    image_id: int
    path: str
    file_url: str
    thumb_url: str
    lease_expires_at: str
    model_version: int | None
    strategy: str | None
    score: float | None
    top: list[TopClass]


class QueueResponse(BaseModel):
    items: list[QueueItem]


class AnnotationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: int = Field(ge=1, le=MAX_ID)
    label: str = Field(min_length=1, max_length=255)
    # Sent by the annotate page: refuse rather than replace a label somebody else gave meanwhile.
    queued: bool = False


class AnnotationResponse(BaseModel):
    id: int
    image_id: int
    label: str


class RenewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_ids: list[int] = Field(max_length=100)


class SkipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: int = Field(ge=1, le=MAX_ID)


class ClassRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=1, max_length=255, description="the class that takes the labels")


class ClassOut(BaseModel):
    name: str
    position: int
    retired: bool
    labels: int


class ClassChangeOut(BaseModel):
    action: str
    old_name: str
    new_name: str | None
    labels_moved: int
    by: str
    at: str


class ClassesResponse(BaseModel):
    classes: list[ClassOut]
    history: list[ClassChangeOut]


class SettingsBody(BaseModel):
    """Any subset of the settings; unknown keys are refused by name."""

    model_config = ConfigDict(extra="allow")

    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {}) | self.model_dump(exclude_unset=True)
