"""Request and response bodies of the JSON API (validated by Pydantic at the edge)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from labelwise.project.dashboard import DashboardStatus
from labelwise.project.project import NO_SEMICOLON

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
    # The model's top class when at least the preselect_threshold setting: Enter accepts it.
    preselected: str | None = None
    # Other images of its near-duplicate group (0: none, or grouping off): "label the group" offers them.
    near_duplicates: int = 0


class QueueResponse(BaseModel):
    items: list[QueueItem]


# No NUL character: PostgreSQL text cannot hold one, so such a name must be a 422 here, not a 500 there.
ClassName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]


# A class being created or renamed may not hold ';' either: label sets are ';'-joined in CSV files
# (existing classes keep their names, so labels and paths take ClassName).
def _no_semicolon(name: str) -> str:
    if ";" in name:
        raise ValueError(f"a class name {NO_SEMICOLON}")
    return name


# Not ClassName's pattern: a new name with NUL (or '/', '..') gets the project's own message, which
# names what a class name may not hold (project.check_class_name).
NewClassName = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_semicolon)]


class AnnotationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: int = Field(ge=1, le=MAX_ID)
    # One class name; on a multi-label project a list of them (empty: none of the classes). The
    # project refuses the other shape, and an unknown or repeated class, naming this field.
    label: ClassName | Annotated[list[ClassName], Field(max_length=255)]
    # Sent by the annotate page: refuse rather than replace a label somebody else gave meanwhile.
    queued: bool = False
    # The class the page had pre-selected when the label was given (none: omit it).
    preselected: ClassName | None = None


class AnnotationResponse(BaseModel):
    id: int
    image_id: int
    label: str | list[str]


class BatchLabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=100)
    label: ClassName


class RefusedImage(BaseModel):
    image_id: int
    reason: str


class BatchLabelResponse(BaseModel):
    label: str
    labeled: list[int]
    refused: list[RefusedImage]


class SimilarItem(BaseModel):
    image_id: int
    path: str
    thumb_url: str
    similarity: float = Field(description="cosine similarity of the projected embeddings, -1 to 1")


class SimilarResponse(BaseModel):
    image_id: int
    path: str
    label: str | None = Field(description="the image's current label: the class to pre-tick")
    items: list[SimilarItem]


class RenewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(max_length=100)


class SkipRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: int = Field(ge=1, le=MAX_ID)


class ClassRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NewClassName


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


class ErrorResponse(BaseModel):
    """Every error the server sends, validation errors included: one line naming the field."""

    detail: str = Field(description="what is wrong, naming the field or the record")


_ERRORS = {
    401: "no valid token (Bearer header, HTTP Basic password or login cookie)",
    403: "the role does not allow it (admin only), or a cookie request from another origin",
    404: "no such record, or its file is missing or outside the images folder",
    409: "conflicts with the current state (a lease held by someone else, an existing class)",
    413: "the request body is over the size limit",
    422: "a field is invalid (the detail names it)",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in _ERRORS.items()
}


class RenewResponse(BaseModel):
    renewed: list[int]


class UndoResponse(BaseModel):
    undone: int
    image_id: int


class SkipResponse(BaseModel):
    skipped: int


class TrainResponse(BaseModel):
    requested: bool


class ClassNamesResponse(BaseModel):
    """The class names after a change, in column order."""

    classes: list[str]


class ImageFolderExportResponse(BaseModel):
    folder: str
    images: int
    hard_links: int


class GridItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    image_id: int
    path: str
    reason: str | None = Field(description="why the file is broken or a duplicate; None for usable images")
    label: str | None
    predicted: str | None = Field(description="the project model's class (newest retrain)")
    confidence: float | None
    score: float | None = Field(description="the serving strategy's score; None where it gives none")
    imported_predicted: str | None = Field(description="the user's own model (labelwise import-predictions)")
    imported_probability: float | None
    near_duplicates: int = Field(0, description="the other members of its near-duplicate group")


class GridResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    total: int = Field(description="images matching the filters")
    offset: int
    items: list[GridItem]
    notice: str | None = Field(description="a sentence when the sort asked for cannot be honoured")
    next: str | None = Field(description="cursor of the next page (pass it as after=); None on the last page")


@dataclass(frozen=True)
class StatusUser:
    name: str
    role: str


@dataclass(frozen=True)
class StatusResponse(DashboardStatus):
    """The dashboard's figures (:class:`labelwise.project.dashboard.DashboardStatus`) and who asks."""

    user: StatusUser | None = None


class RecentLabel(BaseModel):
    id: int
    image_id: int
    path: str
    label: str  # a multi-label label as its names joined with "; " ("none": the empty set)
    labels: list[str] | None = None  # a multi-label label's classes; None on a single-label project
    file_url: str


class RecentLabelsResponse(BaseModel):
    """The person's latest labels from the annotate page, newest last (the page's undo stack)."""

    items: list[RecentLabel]


class SettingsResponse(BaseModel):
    """Every setting (:data:`labelwise.project.settings.DEFAULTS`); a setting added there without a
    field here is refused (extra=forbid), not silently dropped from the API."""

    model_config = ConfigDict(extra="forbid")
    strategy: str
    head: str
    candidates: int | None
    # int | float: a whole number stays one in the JSON (10, not 10.0), as before the model existed
    explore: int | float
    retrain_every: int
    lease_minutes: int | float
    max_leases_per_user: int
    queue_size: int
    stop_label_budget: int | None
    stop_target_accuracy: int | float | None
    stop_kappa: int | float
    audit_fraction: int | float
    preselect_threshold: int | float | None
    overlap: int | float  # share of the images labeled by more than one person (project/overlap.py)
    labels_per_overlap_image: int
