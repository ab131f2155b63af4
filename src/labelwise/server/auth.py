"""Who is asking: a bearer token or the session cookie set by the login page. No anonymous access."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from labelwise.project.project import Project
from labelwise.project.sessions import user_for_session
from labelwise.project.users import User, user_for_token

COOKIE = "labelwise_session"  # a server-side session id, never the token
# Where the middleware leaves the account it found for this very request (in the ASGI scope's state),
# so that the route does not look the same credential up a second time.
FOUND = "labelwise_credential"


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _credential(bearer: str | None, cookie: str | None) -> tuple[str | None, str | None]:
    """The part of (bearer, cookie) that decides the account: the token when there is one."""
    return (bearer, None) if bearer is not None else (None, cookie)


def _user(project: Project, bearer: str | None, cookie: str | None) -> User | None:
    if bearer is not None:
        return user_for_token(project, bearer)
    return user_for_session(project, cookie)


def credential_user(project: Project, bearer: str | None, cookie: str | None) -> tuple[Any, User | None]:
    """For the middleware, before any body is read: the account of a bearer token, else of the session
    cookie, with the credential it was found from (see :data:`FOUND`)."""
    return _credential(bearer, cookie), _user(project, bearer, cookie)


def current_user(request: Request) -> User:
    credential = _credential(bearer_of(request), request.cookies.get(COOKIE))
    # Reused only for the same credential: the middleware also reads HTTP Basic, which routes do not.
    found = request.scope.get("state", {}).get(FOUND)
    reuse = found is not None and found[0] == credential
    user = found[1] if reuse else _user(request.app.state.project, *credential)
    if user is None:
        raise HTTPException(401, "a valid token is needed: use your login link or `Authorization: Bearer <token>`")
    return user


def admin_user(request: Request) -> User:
    user = current_user(request)
    if user.role != "admin":
        raise HTTPException(403, f"{user.name} is an annotator; this needs an admin")
    return user
