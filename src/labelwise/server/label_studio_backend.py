"""Label Studio's ML-backend protocol, so its "Connect model" can use labelwise where the network allows.

``/predict`` answers from the current ranking, without retraining; ``/webhook`` acknowledges
annotation events (the retrainer picks up new labels on its own schedule, and ``labelwise
label-studio sync`` imports them). Every route needs a Bearer token, like the rest of the API.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

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


def _model_version(request: Request) -> str:
    ranking = Ranking.load(ranking_path(request.app.state.project))
    return f"labelwise-v{ranking.version}" if ranking else "labelwise-v0"


@router.get("/health")
def health(request: Request, user: CurrentUser) -> dict:
    return {"status": "UP", "model_class": "labelwise", "model_version": _model_version(request)}


@router.post("/setup")
def setup(request: Request, user: CurrentUser, body: Annotated[dict[str, Any], Body()]) -> dict:
    return {"model_version": _model_version(request)}


@router.post("/predict")
def predict(request: Request, user: CurrentUser, body: Annotated[dict[str, Any], Body()]) -> dict:
    tasks = body.get("tasks") or []
    results = predictions_for_tasks(request.app.state.project, tasks, body.get("label_config"))
    return {"results": results, "model_version": _model_version(request)}


@router.post("/webhook")
def webhook(request: Request, user: CurrentUser, body: Annotated[dict[str, Any], Body()]) -> dict:
    return {"status": "ok", "action": body.get("action")}
