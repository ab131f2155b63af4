"""Label Studio's ML-backend protocol, so its "Connect model" can use labelwise where the network allows.

``/predict`` answers from the current ranking, without retraining; ``/webhook`` acknowledges
annotation events (the retrainer picks up new labels on its own schedule, and ``labelwise
label-studio sync`` imports them). Every route needs a Bearer token, like the rest of the API.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel

from labelwise.project.label_studio import predictions_for_tasks
from labelwise.project.training import Ranking, ranking_path
from labelwise.project.users import User, user_for_token
from labelwise.server.auth import current_user
from labelwise.server.schemas import ERROR_RESPONSES

router = APIRouter(tags=["label-studio"], responses=ERROR_RESPONSES)


def backend_user(request: Request) -> User:
    """A Bearer token, or HTTP Basic with the token as password: Label Studio's "Connect model"
    form offers Basic authentication only."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            _, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            password = ""
        user = user_for_token(request.app.state.project, password)
        if user is not None:
            return user
    return current_user(request)


CurrentUser = Annotated[User, Depends(backend_user)]


class HealthResponse(BaseModel):
    status: str
    model_class: str
    model_version: str


class SetupResponse(BaseModel):
    model_version: str


class PredictResponse(BaseModel):
    results: list[dict[str, Any]]  # Label Studio's prediction format, one per task (its schema, not ours)
    model_version: str


class WebhookResponse(BaseModel):
    status: str
    action: Any = None  # the event's "action", echoed as sent


def _model_version(request: Request) -> str:
    ranking = Ranking.load(ranking_path(request.app.state.project))
    return f"labelwise-v{ranking.version}" if ranking else "labelwise-v0"


@router.get("/health", response_model=HealthResponse)
def health(request: Request, user: CurrentUser) -> HealthResponse:
    return HealthResponse(status="UP", model_class="labelwise", model_version=_model_version(request))


@router.post("/setup", response_model=SetupResponse)
def setup(request: Request, user: CurrentUser, body: Annotated[dict[str, Any], Body()]) -> SetupResponse:
    return SetupResponse(model_version=_model_version(request))


@router.post("/predict", response_model=PredictResponse)
def predict(request: Request, user: CurrentUser, body: Annotated[dict[str, Any], Body()]) -> PredictResponse:
    tasks = body.get("tasks") or []
    results = predictions_for_tasks(request.app.state.project, tasks, body.get("label_config"))
    return PredictResponse(results=results, model_version=_model_version(request))


@router.post("/webhook", response_model=WebhookResponse)
def webhook(request: Request, user: CurrentUser, body: Annotated[dict[str, Any], Body()]) -> WebhookResponse:
    return WebhookResponse(status="ok", action=body.get("action"))
