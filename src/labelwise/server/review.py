"""Review of labels over HTTP, for admins: the labels most likely wrong, confirm or change, history.

Route functions only translate; the work is in :mod:`labelwise.project.review`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from labelwise.project.classes import active_class_names
from labelwise.project.review import likely_mislabeled, review_history, review_label
from labelwise.project.votes import disputed_images
from labelwise.server.deps import Admin, CurrentUser
from labelwise.server.pages import _page
from labelwise.server.schemas import ERROR_RESPONSES, MAX_ID

router = APIRouter(responses=ERROR_RESPONSES)
ImageId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


class SuspectItem(BaseModel):
    rank: int
    image_id: int
    path: str
    label: str
    given_p: float
    suggested: str
    suggested_p: float
    flagged: bool
    annotator: str
    labeled_at: str


class SuspectsResponse(BaseModel):
    items: list[SuspectItem]
    n_checked: int
    n_flagged: int
    n_reviewed: int
    seconds: float
    notes: list[str]


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, min_length=1, max_length=255, description="the new class; omitted: confirm")
    given_p: float | None = Field(None, ge=0.0, le=1.0, description="the finder's p(label) when reviewed")
    reason: Literal["likely-mislabeled", "disputed"] = Field(
        "likely-mislabeled", description="which list the image was reviewed from"
    )


class Vote(BaseModel):
    by: str
    label: str


class DisputedItem(BaseModel):
    image_id: int
    path: str
    label: str = Field(description="the image's current label (the first person's)")
    votes: list[Vote]
    tied: list[str] = Field(description="the classes with the most votes")


class DisputedResponse(BaseModel):
    items: list[DisputedItem]


class ReviewRow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: int
    image_id: int
    path: str
    action: str
    from_: str = Field(alias="from")
    to: str
    by: str
    at: str | None
    reason: str | None
    given_p: float | None
    labeled_by: str
    labeled_at: str


class ReviewHistoryResponse(BaseModel):
    reviews: list[ReviewRow]


@router.get("/api/review/suspects", response_model=SuspectsResponse)
def suspects(request: Request, user: Admin, n: Annotated[int, Query(ge=1, le=500)] = 50) -> SuspectsResponse:
    report = likely_mislabeled(request.app.state.project, n)
    return SuspectsResponse(**{**asdict(report), "items": [asdict(i) for i in report.items]})


@router.get("/api/review/disputed", response_model=DisputedResponse)
def disputed(request: Request, user: Admin, n: Annotated[int, Query(ge=1, le=1000)] = 200) -> DisputedResponse:
    """Overlap images whose votes tie: left out of training until a reviewer confirms or changes the label."""
    return DisputedResponse(items=[DisputedItem(**d) for d in disputed_images(request.app.state.project, n)])


@router.post("/api/review/{image_id}", status_code=201, response_model=ReviewRow, response_model_by_alias=True)
def review(image_id: ImageId, body: ReviewRequest, request: Request, user: Admin) -> ReviewRow:
    row = review_label(request.app.state.project, image_id, reviewer=user.name, new_class=body.label,
                       user_id=user.id, given_p=body.given_p, reason=body.reason)  # fmt: skip
    if row["action"] == "change":
        request.app.state.retrainer.request()  # train on the corrected label
    return ReviewRow(**row)


@router.get("/api/review/history", response_model=ReviewHistoryResponse, response_model_by_alias=True)
def history(request: Request, user: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> ReviewHistoryResponse:
    return ReviewHistoryResponse(reviews=[ReviewRow(**r) for r in review_history(request.app.state.project, limit)])


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(request: Request, user: CurrentUser) -> HTMLResponse:
    if user.role != "admin":
        response = _page(request, "admins_only.html", user, what="Reviewing labels")
        response.status_code = 403
        return response
    return _page(request, "review.html", user, classes=active_class_names(request.app.state.project))
