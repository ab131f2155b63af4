"""People and their tokens. Tokens are random and shown once; the database keeps only their hash."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.project.project import Project
from labelwise.store.models import User

ROLES = ("admin", "annotator")


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough: no dictionary can guess them.
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(project: Project, name: str, role: str = "annotator") -> str:
    """Create a person and return their token (the only time it is ever shown)."""
    name = name.strip()
    if not name:
        raise LabelwiseError("name: must not be empty")
    if role not in ROLES:
        raise LabelwiseError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    with project.sessions.begin() as session:
        if session.scalar(select(User).where(User.name == name)) is not None:
            raise LabelwiseError(f"name: a user called {name!r} exists already")
        session.add(User(name=name, role=role, token_hash=hash_token(token)))
    return token


def user_for_token(project: Project, token: str | None) -> User | None:
    if not token:
        return None
    with project.sessions() as session:
        return session.scalar(select(User).where(User.token_hash == hash_token(token)))


def has_admin(project: Project) -> bool:
    with project.sessions() as session:
        return session.scalar(select(User.id).where(User.role == "admin").limit(1)) is not None
