"""People and their tokens. Tokens are random and shown once; the database keeps only their hash."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from labelwise.errors import LabelwiseError
from labelwise.project.project import Project
from labelwise.store.models import User, utcnow

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
        # A disabled account's token is refused exactly like an unknown one.
        return session.scalar(select(User).where(User.token_hash == hash_token(token), User.disabled_at.is_(None)))


def list_users(project: Project) -> list[dict]:
    """Every account, oldest first: name, role, created, disabled (no token, not even its hash)."""
    with project.sessions() as session:
        users = session.scalars(select(User).order_by(User.id)).all()
        return [
            {"name": u.name, "role": u.role, "created_at": u.created_at.isoformat(timespec="seconds"),
             "disabled": u.disabled_at is not None}
            for u in users
        ]  # fmt: skip


def _named(session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise LabelwiseError(f"name: no user called {name!r}")
    return user


def disable_user(project: Project, name: str) -> None:
    """Refuse the account's token from now on; its labels and their history stay."""
    with project.sessions.begin() as session:
        user = _named(session, name)
        if user.disabled_at is None:
            user.disabled_at = utcnow()


def rotate_token(project: Project, name: str) -> str:
    """Give the account a new token (returned, shown once); the old one stops working at once."""
    token = secrets.token_urlsafe(32)
    with project.sessions.begin() as session:
        _named(session, name).token_hash = hash_token(token)
    return token


def has_admin(project: Project) -> bool:
    with project.sessions() as session:
        return session.scalar(select(User.id).where(User.role == "admin").limit(1)) is not None
