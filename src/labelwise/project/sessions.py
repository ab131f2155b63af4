"""Browser sessions and one-time login codes. Both are random and stored only as a hash, like tokens.

The cookie never holds the permanent token: a stolen cookie dies at logout or expiry, and the token
can be rotated without logging everyone out of every browser by hand.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from labelwise.project.project import Project
from labelwise.project.users import hash_token
from labelwise.store.models import LoginCode, LoginSession, User, utcnow

SESSION_DAYS = 7  # a browser session lasts a week, then the login link or token is needed again
CODE_MINUTES = 15  # the login link printed by serve/demo works once, within this time


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive UTC


def start_session(project: Project, user_id: int, days: float = SESSION_DAYS) -> str:
    """A new session for ``user_id``; returns its id (for the cookie), stored only as a hash."""
    session_id = secrets.token_urlsafe(32)
    with project.sessions.begin() as session:
        session.add(LoginSession(id_hash=hash_token(session_id), user_id=user_id,
                                 expires_at=utcnow() + timedelta(days=days)))  # fmt: skip
    return session_id


def user_for_session(project: Project, session_id: str | None) -> User | None:
    """The active account of a live, unrevoked session, else None."""
    if not session_id:
        return None
    with project.sessions() as session:
        row = session.execute(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.id_hash == hash_token(session_id), LoginSession.revoked.is_(False))
            .where(User.disabled_at.is_(None))
        ).first()
    if row is None or _aware(row[0].expires_at) <= utcnow():
        return None
    return row[1]


def end_session(project: Project, session_id: str | None) -> None:
    if session_id:
        with project.sessions.begin() as session:
            session.execute(
                update(LoginSession).where(LoginSession.id_hash == hash_token(session_id)).values(revoked=True)
            )


def login_code(project: Project, user_name: str, minutes: float = CODE_MINUTES) -> str:
    """A one-time code for ``user_name``'s login link."""
    code = secrets.token_urlsafe(24)
    with project.sessions.begin() as session:
        user_id = session.scalar(select(User.id).where(User.name == user_name))
        session.add(LoginCode(code_hash=hash_token(code), user_id=user_id,
                              expires_at=utcnow() + timedelta(minutes=minutes)))  # fmt: skip
    return code


def redeem_login_code(project: Project, code: str | None) -> User | None:
    """The account the code belongs to, if it is unused and unexpired; it is used up at once. The
    conditional UPDATE makes two simultaneous uses of one code yield one winner."""
    if not code:
        return None
    now = utcnow()
    with project.sessions.begin() as session:
        row = session.scalar(select(LoginCode).where(LoginCode.code_hash == hash_token(code)))
        if row is None or row.used_at is not None or _aware(row.expires_at) <= now:
            return None
        won = session.execute(
            update(LoginCode)
            .where(LoginCode.code_hash == row.code_hash, LoginCode.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if not won:
            return None
        return session.scalar(select(User).where(User.id == row.user_id, User.disabled_at.is_(None)))
