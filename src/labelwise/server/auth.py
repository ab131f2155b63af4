"""Who is asking: a bearer token or the session cookie set by the login page. No anonymous access."""

from __future__ import annotations

from fastapi import HTTPException, Request

from labelwise.project.project import Project
from labelwise.project.users import user_for_token
from labelwise.store.models import User

COOKIE = "labelwise_token"


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def has_valid_credential(project: Project, bearer: str | None, cookie: str | None) -> bool:
    """For the middleware, before any body is read: a bearer token, else the cookie."""
    return user_for_token(project, bearer if bearer is not None else cookie) is not None


def current_user(request: Request) -> User:
    user = user_for_token(request.app.state.project, token_of(request))
    if user is None:
        raise HTTPException(401, "a valid token is needed: use your login link or `Authorization: Bearer <token>`")
    return user


def admin_user(request: Request) -> User:
    user = current_user(request)
    if user.role != "admin":
        raise HTTPException(403, f"{user.name} is an annotator; this needs an admin")
    return user
