"""The annotation queue: leases so that two people never hold the same image, labels, undo, skip.

Late labels: a label for an image whose lease belongs to somebody else, still live, is refused
(409). A label from a person whose own lease has expired is accepted as long as nobody else has
leased the image since: the work was done, and nothing is lost by keeping it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from labelwise.errors import LabelwiseError
from labelwise.project.labels import add_annotation
from labelwise.project.project import Project
from labelwise.project.training import Ranking
from labelwise.store.models import STATUS_OK, Annotation, Image, LabelClass, Lease, Skip, User, utcnow

CHUNK = 256


class NotFoundError(LabelwiseError):
    """An image, class or annotation that does not exist (HTTP 404)."""


class ConflictError(LabelwiseError):
    """The request clashes with somebody else's work (HTTP 409)."""


class ForbiddenError(LabelwiseError):
    """The person may not do this (HTTP 403)."""


@dataclass
class Leased:
    image_id: int
    path: str
    expires_at: datetime
    model_version: int | None
    strategy: str | None
    score: float | None
    top: list[tuple[str, float]]


def _insert_ignore(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Lease)


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def lease_next(
    project: Project, user: User, n: int, ranking: Ranking | None, lease_minutes: float, max_leases: int | None = None
) -> list[Leased]:
    """Up to ``n`` images for ``user``: the live leases they hold first, then the best free ones;
    never more than ``max_leases`` live leases per person (``None``: no cap)."""
    if n < 0 or n > 100:
        raise LabelwiseError("n: must be between 0 and 100")
    now = utcnow()
    expires = now + timedelta(minutes=lease_minutes)
    why = {e.image_id: e for e in ranking.entries} if ranking else {}
    version = ranking.version if ranking else None
    strategy = ranking.strategy if ranking else None
    with project.sessions.begin() as session:
        if max_leases is not None:
            # A no-op write on the person's row first: it locks that row (PostgreSQL) or the database
            # (SQLite) until commit, so concurrent calls of one person count their leases in turn.
            session.execute(update(User).where(User.id == user.id).values(id=User.id))
            live = session.scalar(select(func.count()).select_from(Lease).where(
                Lease.user_id == user.id, Lease.expires_at > now, Lease.done.is_(False)))  # fmt: skip
            n = min(n, max(live, max_leases))
        held = list(
            session.scalars(
                select(Lease).where(Lease.user_id == user.id, Lease.expires_at > now, Lease.done.is_(False)).limit(n)
            )
        )
        got = [lease.image_id for lease in held]
        for lease in held:  # asking again renews what you hold
            lease.expires_at = expires
        order = [e.image_id for e in ranking.entries] if ranking else []
        position = 0
        while len(got) < n:
            if position < len(order):
                chunk = order[position : position + CHUNK]
                position += CHUNK
            else:
                chunk = _fallback_chunk(session, now, user.id, exclude=got)
                if not chunk:
                    break
            free = _free_images(session, chunk, user.id, now)
            for image_id in free:
                if len(got) >= n:
                    break
                entry = why.get(image_id)
                if _acquire(session, image_id, user.id, now, expires, version if entry else None,
                            strategy if entry else "fallback: unranked", entry.score if entry else None):  # fmt: skip
                    got.append(image_id)
        rows = session.execute(
            select(Image.id, Image.path, Lease.expires_at, Lease.model_version, Lease.strategy, Lease.score)
            .join(Lease, Lease.image_id == Image.id)
            .where(Image.id.in_(got))
        ).all()
    by_id = {r[0]: r for r in rows}
    return [
        Leased(i, by_id[i][1], _aware(by_id[i][2]), by_id[i][3], by_id[i][4], by_id[i][5],
               list(why[i].top) if i in why else [])
        for i in got
        if i in by_id
    ]  # fmt: skip


def _free(now: datetime, user_id: int):
    """The one definition of a free image: ok, unlabeled, not leased (live or done), not skipped
    by this person today."""
    labeled = select(Annotation.image_id).where(Annotation.superseded.is_(False))
    leased = select(Lease.image_id).where((Lease.expires_at > now) | Lease.done.is_(True))
    skipped = select(Skip.image_id).where(Skip.user_id == user_id, Skip.skipped_at >= _start_of_day(now))
    return select(Image.id).where(
        Image.status == STATUS_OK, Image.id.not_in(labeled), Image.id.not_in(leased), Image.id.not_in(skipped)
    )


def _free_images(session: Session, chunk: list[int], user_id: int, now: datetime) -> list[int]:
    """The free images of ``chunk``, in the chunk's (ranking) order."""
    if not chunk:
        return []
    free = set(session.scalars(_free(now, user_id).where(Image.id.in_(chunk))))
    return [i for i in chunk if i in free]


def _fallback_chunk(session: Session, now: datetime, user_id: int, exclude: list[int]) -> list[int]:
    """Unranked free images, when the ranking is used up or there is none yet."""
    query = _free(now, user_id).order_by(Image.id).limit(CHUNK)
    if exclude:
        query = query.where(Image.id.not_in(exclude))
    return list(session.scalars(query))


def _acquire(session, image_id, user_id, now, expires, version, strategy, score) -> bool:
    """Take the lease of one image; ``False`` if somebody else got it first."""
    session.execute(delete(Lease).where(Lease.image_id == image_id, Lease.expires_at <= now, Lease.done.is_(False)))
    values = dict(image_id=image_id, user_id=user_id, expires_at=expires, model_version=version,
                  strategy=strategy, score=score)  # fmt: skip
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    statement = _insert_ignore(session).values(**values).on_conflict_do_nothing().returning(Lease.image_id)
    return session.execute(statement).first() is not None


def annotate(project: Project, user: User, image_id: int, label: str, ranking: Ranking | None) -> int:
    """Record ``user``'s label of an image; returns the annotation id."""
    now = utcnow()
    with project.sessions.begin() as session:
        image = session.get(Image, image_id)
        if image is None:
            raise NotFoundError(f"image_id: no image {image_id}")
        if image.status != STATUS_OK:
            raise LabelwiseError(f"image_id: image {image_id} is {image.status} and cannot be labeled")
        cls = session.scalar(select(LabelClass).where(LabelClass.name == label))
        if cls is None:
            known = ", ".join(session.scalars(select(LabelClass.name).order_by(LabelClass.position)))
            raise LabelwiseError(f"label: unknown class {label!r}; the classes are: {known}")
        # Make sure a lease row exists and lock it: concurrent labels of one image queue up here.
        session.execute(
            _insert_ignore(session)
            .values(image_id=image_id, user_id=user.id, expires_at=now, done=True)
            .on_conflict_do_nothing()
        )
        lease = session.get(Lease, image_id, with_for_update=True, populate_existing=True)
        if not lease.done and lease.user_id != user.id and _aware(lease.expires_at) > now:
            holder = session.get(User, lease.user_id)
            raise ConflictError(
                f"image_id: image {image_id} is leased to {holder.name if holder else 'someone else'} "
                f"until {_aware(lease.expires_at).isoformat(timespec='seconds')}"
            )
        version = strategy = score = None
        if not lease.done and lease.user_id == user.id:
            version, strategy, score = lease.model_version, lease.strategy, lease.score
        elif ranking is not None:
            entry = next((e for e in ranking.entries if e.image_id == image_id), None)
            if entry is not None:
                version, strategy, score = ranking.version, ranking.strategy, entry.score
        annotation = add_annotation(session, image, cls, annotator=user.name, source="server",
                                    model_version=version, strategy=strategy, score=score)  # fmt: skip
        lease.done = True
        session.flush()
        return annotation.id


def undo(project: Project, user: User, annotation_id: int, lease_minutes: float) -> int:
    """Remove an annotation (its author or an admin); the label it replaced, if any, is current
    again, and the image goes back to its author's queue. Returns the image id."""
    with project.sessions.begin() as session:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            raise NotFoundError(f"annotation {annotation_id}: not found")
        if annotation.annotator != user.name and user.role != "admin":
            raise ForbiddenError(f"annotation {annotation_id}: only {annotation.annotator} or an admin may undo it")
        image_id = annotation.image_id
        was_current = not annotation.superseded
        session.delete(annotation)
        session.flush()
        if was_current:
            previous = session.scalar(
                select(Annotation).where(Annotation.image_id == image_id).order_by(Annotation.id.desc()).limit(1)
            )
            if previous is not None:
                previous.superseded = False
            else:
                # Unlabeled again: the image goes back to its author's queue, leased to them.
                lease = session.get(Lease, image_id, with_for_update=True)
                if lease is not None:
                    lease.done, lease.user_id = False, user.id
                    lease.expires_at = utcnow() + timedelta(minutes=lease_minutes)
        return image_id


def skip(project: Project, user: User, image_id: int) -> None:
    with project.sessions.begin() as session:
        if session.get(Image, image_id) is None:
            raise NotFoundError(f"image_id: no image {image_id}")
        session.add(Skip(image_id=image_id, user_id=user.id))
        session.execute(delete(Lease).where(Lease.image_id == image_id, Lease.user_id == user.id))


def label_count(project: Project) -> int:
    with project.sessions() as session:
        return session.scalar(select(func.count()).select_from(Annotation).where(Annotation.superseded.is_(False)))
