"""Who is asking: a bearer token or the session cookie set by the login page. No anonymous access."""

from __future__ import annotations

from fastapi import HTTPException, Request

from labelwise.project.project import Project
from labelwise.project.sessions import user_for_session
from labelwise.project.users import User, user_for_token

COOKIE = "labelwise_session"  # a server-side session id, never the token


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _user(project: Project, bearer: str | None, cookie: str | None) -> User | None:
    if bearer is not None:
        return user_for_token(project, bearer)
    return user_for_session(project, cookie)


def has_valid_credential(project: Project, bearer: str | None, cookie: str | None) -> bool:
    """For the middleware, before any body is read: a bearer token, else the session cookie."""
    return _user(project, bearer, cookie) is not None


def current_user(request: Request) -> User:
    user = _user(request.app.state.project, bearer_of(request), request.cookies.get(COOKIE))
    if user is None:
        raise HTTPException(401, "a valid token is needed: use your login link or `Authorization: Bearer <token>`")
    return user


def admin_user(request: Request) -> User:
    user = current_user(request)
    if user.role != "admin":
        raise HTTPException(403, f"{user.name} is an annotator; this needs an admin")
    return user
