"""The annotation queue: leases so that two people never hold the same image, labels, undo, skip.

Late labels: a label for an image whose lease belongs to somebody else, still live, is refused
(409). A label from a person whose own lease has expired is accepted as long as nobody else has
leased the image since: the work was done, and nothing is lost by keeping it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from labelwise.errors import ConflictError, ForbiddenError, LabelwiseError, NotFoundError
from labelwise.project.free_index import INDEXES
from labelwise.project.labels import add_annotation
from labelwise.project.multilabel_labels import add_label_set, label_sets_of, require_kind, resolve_label_set
from labelwise.project.near_duplicates import group_of
from labelwise.project.overlap import (
    OPINION_STRATEGY,
    lease_opinions,
    live_opinion_leases,
    record_opinion,
    release_opinion,
    renew_opinions,
    reopen_opinion,
)
from labelwise.project.project import Project
from labelwise.project.training import QueueEntry, Ranking
from labelwise.store.db import relaxed_commit, retry_transaction
from labelwise.store.models import STATUS_OK, Annotation, Image, LabelClass, Lease, Skip, User, utcnow

CHUNK = 256


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


@retry_transaction
def lease_next(
    project: Project, user: User, n: int, ranking: Ranking | None, lease_minutes: float, max_leases: int | None = None
) -> list[Leased]:
    """Up to ``n`` images for ``user``: the live leases they hold first, then the second opinions
    they can give (project/overlap.py; none while overlap is off), then the best free ones; never
    more than ``max_leases`` live leases per person (``None``: no cap)."""
    if n < 0 or n > 100:
        raise LabelwiseError("n: must be between 0 and 100")
    now = utcnow()
    expires = now + timedelta(minutes=lease_minutes)
    why = ranking.by_image if ranking else {}
    version = ranking.version if ranking else None
    strategy = ranking.strategy if ranking else None
    # The walk's claims end when the transaction does; what it learned is kept only if it committed.
    walk = _RankingWalk(project, ranking, user.id, now)
    with walk, project.sessions.begin() as session:
        relaxed_commit(session)  # a lease lost to a power cut costs nothing: the image is free again
        if max_leases is not None:
            # A no-op write on the person's row first: it locks that row (PostgreSQL) or the database
            # (SQLite) until commit, so concurrent calls of one person count their leases in turn.
            session.execute(update(User).where(User.id == user.id).values(id=User.id))
            live = session.scalar(select(func.count()).select_from(Lease).where(
                Lease.user_id == user.id, Lease.expires_at > now, Lease.done.is_(False)))  # fmt: skip
            live += live_opinion_leases(session, user.id, now)  # overlap: second opinions count too
            n = min(n, max(live, max_leases))
        # FOR UPDATE: a lease that runs out while its holder asks again may be taken by somebody else
        # meanwhile; the lock waits for that and skips the lease, instead of renewing (and serving) it.
        held = list(
            session.scalars(
                select(Lease)
                .where(Lease.user_id == user.id, Lease.expires_at > now, Lease.done.is_(False))
                .limit(n)
                .with_for_update()
            )
        )
        # What you hold comes back in ranking order, not in the database's order.
        rank_of = ranking.position if ranking else {}
        held.sort(key=lambda lease: (rank_of.get(lease.image_id, len(rank_of)), lease.image_id))
        got = [lease.image_id for lease in held]
        for lease in held:  # asking again renews what you hold
            lease.expires_at = expires
        # Overlap (project/overlap.py): then the second opinions this person can give, before new images.
        opinions = lease_opinions(session, user.id, n - len(got), now, expires)
        n -= len(opinions)
        # No two near-duplicates (one picture cropped or shifted) in one batch: the second is left for later.
        groups = group_of(project)
        taken = {groups[i] for i in got if i in groups}
        passed: list[int] = []
        while len(got) < n:
            free = walk.next_free(session, n - len(got))
            if free is None:  # the ranking is used up (or there is none): unranked images
                chunk = _fallback_chunk(session, now, user.id, exclude=got + passed)
                if not chunk:
                    break
                free = _free_images(session, chunk, user.id, now)
            for image_id in free:
                if len(got) >= n:
                    break
                if groups.get(image_id, -1) in taken:
                    passed.append(image_id)
                    continue
                entry = why.get(image_id)
                if _acquire(session, image_id, user.id, now, expires, version if entry else None,
                            _chosen_by(entry, strategy), entry.score if entry else None,
                            **_audit_columns(entry)):  # fmt: skip
                    got.append(image_id)
                    walk.leased(image_id, expires)
                    if image_id in groups:
                        taken.add(groups[image_id])
        rows = session.execute(
            select(Image.id, Image.path, Lease.expires_at, Lease.model_version, Lease.strategy, Lease.score)
            .join(Lease, Lease.image_id == Image.id)
            .where(Image.id.in_(got))
        ).all()
        opinion_paths = (
            dict(session.execute(select(Image.id, Image.path).where(Image.id.in_(opinions))).all()) if opinions else {}
        )
    by_id = {r[0]: r for r in rows}
    primary = [
        Leased(i, by_id[i][1], _aware(by_id[i][2]), by_id[i][3], by_id[i][4], by_id[i][5],
               list(why[i].top) if i in why else [])
        for i in got
        if i in by_id
    ]  # fmt: skip
    # Served in the order chosen: held leases, second opinions, new images. A second opinion comes
    # without the model's prediction: the person's own opinion is wanted.
    second = [Leased(i, opinion_paths[i], expires, None, OPINION_STRATEGY, None, []) for i in opinions]
    return primary[: len(held)] + second + primary[len(held) :]


def _chosen_by(entry: QueueEntry | None, ranking_strategy: str | None) -> str | None:
    """What chose an image: its own pick label (e.g. an explore pick), else the ranking's."""
    if entry is None:
        return "fallback: unranked"
    return entry.strategy or ranking_strategy


def _free_condition(now: datetime, user_id: int) -> ColumnElement[bool]:
    """The one definition of a free image: ok, unlabeled, not leased (live or done), not skipped
    by this person today. (NOT EXISTS: one index lookup per image, not a scan of every label.)"""
    # correlate(Image): only the image is the outer query's (a caller may join leases too)
    labeled = _labeled_condition()
    leased = (
        exists().where(Lease.image_id == Image.id, (Lease.expires_at > now) | Lease.done.is_(True)).correlate(Image)
    )
    skipped = (
        exists()
        .where(Skip.image_id == Image.id, Skip.user_id == user_id, Skip.skipped_at >= _start_of_day(now))
        .correlate(Image)
    )
    return and_(Image.status == STATUS_OK, ~labeled, ~leased, ~skipped)


def _labeled_condition() -> ColumnElement[bool]:
    return exists().where(Annotation.image_id == Image.id, Annotation.superseded.is_(False)).correlate(Image)


def _free(now: datetime, user_id: int):
    return select(Image.id).where(_free_condition(now, user_id))


class _RankingWalk:
    """One request's walk down the ranking through the process's :class:`FreeIndex`: it asks the
    database about the few images the index offers, and tells the index what it found once the
    request's transaction has committed (``with`` the walk around the transaction)."""

    def __init__(self, project: Project, ranking: Ranking | None, user_id: int, now: datetime) -> None:
        self.index = None if ranking is None else INDEXES.index(
            str(project.folder), ranking, lambda: [e.image_id for e in ranking.entries])  # fmt: skip
        self.user_id, self.now = user_id, now
        self.claimed: list[int] = []
        self.labeled: set[int] = set()
        self.leases: dict[int, float] = {}
        self.steps = 0

    def next_free(self, session: Session, wanted: int) -> list[int] | None:
        """Free images among the next ones of the ranking, in its order; ``None`` when it is used up."""
        if self.index is None:
            return None
        # Twice what is wanted, doubling with every further step of the same request (up to CHUNK), so
        # that a long run of taken images costs a few queries, not one per image.
        ids = self.index.claim(min(CHUNK, 2 * wanted * 2**self.steps))
        self.steps += 1
        if not ids:
            return None
        self.claimed += ids
        rows = session.execute(
            select(Image.id, case((_free_condition(self.now, self.user_id), True), else_=False),
                   case((_labeled_condition(), True), else_=False), Lease.expires_at, Lease.done)
            .outerjoin(Lease, Lease.image_id == Image.id)
            .where(Image.id.in_(ids))
        ).all()  # fmt: skip
        free = set()
        self.labeled.update(set(ids) - {r[0] for r in rows})  # no such image (any more)
        for image_id, is_free, is_labeled, expires_at, done in rows:
            if is_free:
                free.add(image_id)
            elif is_labeled or done:
                self.labeled.add(image_id)
            elif expires_at is not None and _aware(expires_at) > self.now:
                self.leases[image_id] = _aware(expires_at).timestamp()
            # else: skipped by this person today, or not ok: looked at again by the next request
        return [i for i in ids if i in free]

    def leased(self, image_id: int, expires: datetime) -> None:
        self.leases[image_id] = expires.timestamp()

    def __enter__(self) -> _RankingWalk:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self.index is None:
            return
        if kind is None:
            self.index.settle(self.claimed, self.labeled, self.leases)
        else:
            self.index.release(self.claimed)


def _free_images(session: Session, chunk: list[int], user_id: int, now: datetime) -> list[int]:
    """The free images of ``chunk``, in the chunk's (ranking) order."""
    if not chunk:
        return []
    free = set(session.scalars(_free(now, user_id).where(Image.id.in_(chunk))))
    return [i for i in chunk if i in free]


def _fallback_chunk(session: Session, now: datetime, user_id: int, exclude: list[int]) -> list[int]:
    """Unranked free images, when the ranking is used up or there is none yet, in the project's
    random order (``Image.rand_key``, indexed), so that the first folders are not served first."""
    query = _free(now, user_id).order_by(Image.rand_key, Image.id).limit(CHUNK)
    if exclude:
        query = query.where(Image.id.not_in(exclude))
    return list(session.scalars(query))


def _audit_columns(entry: QueueEntry | None) -> dict:
    """The serving model's prediction, stored at lease time, before the label exists; an audit
    pick without a model (cold start) measures nothing and is not marked."""
    if entry is None or not entry.top:
        return {}
    return {"audit": entry.audit, "predicted": entry.top[0][0], "predicted_p": entry.top[0][1]}


def _acquire(session, image_id, user_id, now, expires, version, strategy, score, **audit) -> bool:
    """Take the lease of one image; ``False`` if somebody else got it first."""
    session.execute(delete(Lease).where(Lease.image_id == image_id, Lease.expires_at <= now, Lease.done.is_(False)))
    values = dict(image_id=image_id, user_id=user_id, expires_at=expires, model_version=version,
                  strategy=strategy, score=score, **audit)  # fmt: skip
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    statement = _insert_ignore(session).values(**values).on_conflict_do_nothing().returning(Lease.image_id)
    return session.execute(statement).first() is not None


@retry_transaction
def annotate(
    project: Project,
    user: User,
    image_id: int,
    label: str | list[str],
    ranking: Ranking | None,
    queued: bool = False,
    preselected: str | None = None,
    source: str = "server",
) -> int:
    """Record ``user``'s label of an image; returns the annotation id. ``queued``: the label comes from
    the annotate page, which only shows unlabeled images, so a current label by somebody else means the
    lease ran out and they labeled it meanwhile: refused instead of silently replacing their label
    (relabeling on purpose, from the grid or a review, passes ``queued=False``). ``preselected``: the
    class the page pre-selected, recorded with whether the label accepted it. ``source``: ``batch`` for
    labels given many at once (a similar-image batch). ``label`` is a list of class names on a
    multi-label project (empty: none of them), one name on a single-label one; the other is refused."""
    now = utcnow()
    with project.sessions.begin() as session:
        image = session.get(Image, image_id)
        if image is None:
            raise NotFoundError(f"image_id: no image {image_id}")
        if image.status != STATUS_OK:
            raise LabelwiseError(f"image_id: image {image_id} is {image.status} and cannot be labeled")
        label_set = None  # a multi-label project's label: its set of classes (project/multilabel_labels.py)
        if isinstance(label, list) or project.multi_label:
            require_kind(project, isinstance(label, list), "label")
            label_set, cls, preselected = resolve_label_set(session, label), None, None
        else:
            cls = session.scalar(select(LabelClass).where(LabelClass.name == label))
        if label_set is None and (cls is None or cls.retired):
            offered = select(LabelClass.name).where(LabelClass.retired.is_(False)).order_by(LabelClass.position)
            known = ", ".join(session.scalars(offered))
            why = "unknown class" if cls is None else "class is retired:"
            raise LabelwiseError(f"label: {why} {label!r}; the classes are: {known}")
        # overlap: a second opinion asked of them (refused on a multi-label project, see settings)
        opinion = None if cls is None else record_opinion(session, image, cls, user, now)
        if opinion is not None:
            if preselected is not None:
                opinion.preselected, opinion.preselect_accepted = preselected, preselected == label
            session.flush()
            return opinion.id
        # Make sure a lease row exists and lock it: concurrent labels of one image queue up here.
        # Up to three rounds: when the row found was an expired lease that somebody else's lease_next
        # deleted and replaced while we waited for its lock, the locking read finds nothing (PostgreSQL,
        # read committed), and the second round sees the new row.
        lease = None
        for _ in range(3):
            session.execute(
                _insert_ignore(session)
                .values(image_id=image_id, user_id=user.id, expires_at=now, done=True)
                .on_conflict_do_nothing()
            )
            lease = session.get(Lease, image_id, with_for_update=True, populate_existing=True)
            if lease is not None:
                break
        if lease is None:
            raise ConflictError(f"image_id: image {image_id} is being leased by others; try again")
        if not lease.done and lease.user_id != user.id and _aware(lease.expires_at) > now:
            holder = session.get(User, lease.user_id)
            raise ConflictError(
                f"image_id: image {image_id} is leased to {holder.name if holder else 'someone else'} "
                f"until {_aware(lease.expires_at).isoformat(timespec='seconds')}"
            )
        if queued:
            other = session.scalar(
                select(Annotation.annotator)
                .where(Annotation.image_id == image_id, Annotation.superseded.is_(False))
                .where(or_(Annotation.user_id.is_(None), Annotation.user_id != user.id))
                .limit(1)
            )
            if other is not None:
                raise ConflictError(
                    f"image_id: image {image_id} was labeled by {other} after your lease ran out; "
                    "your label was not recorded"
                )
        version = strategy = score = None
        audit = {}
        if not lease.done and lease.user_id == user.id:
            version, strategy, score = lease.model_version, lease.strategy, lease.score
            audit = {"audit": lease.audit, "predicted": lease.predicted, "predicted_p": lease.predicted_p}
        elif ranking is not None:
            entry = next((e for e in ranking.entries if e.image_id == image_id), None)
            if entry is not None:
                version, strategy, score = ranking.version, _chosen_by(entry, ranking.strategy), entry.score
        who = dict(annotator=user.name, source=source, user_id=user.id, model_version=version, strategy=strategy,
                   score=score)  # fmt: skip
        if label_set is not None:
            annotation = add_label_set(session, image, label_set, **who)
        else:
            assert cls is not None
            annotation = add_annotation(session, image, cls, **who)
        for key, value in audit.items():  # only a leased image counts: its prediction predates the label
            setattr(annotation, key, value)
        if preselected is not None:
            annotation.preselected, annotation.preselect_accepted = preselected, preselected == label
        lease.done = True
        session.flush()
        return annotation.id


@retry_transaction
def renew(project: Project, user: User, image_ids: list[int], lease_minutes: float) -> list[int]:
    """Extend ``user``'s open leases of ``image_ids`` (the annotate page's heartbeat while the person is
    active); returns the ids still theirs, so the page can drop images somebody else holds now."""
    now = utcnow()
    with project.sessions.begin() as session:
        leases = session.scalars(
            select(Lease).where(Lease.image_id.in_(image_ids), Lease.user_id == user.id, Lease.done.is_(False))
        ).all()
        for lease in leases:
            lease.expires_at = now + timedelta(minutes=lease_minutes)
        opinions = renew_opinions(session, user.id, image_ids, now + timedelta(minutes=lease_minutes))
        return sorted([lease.image_id for lease in leases] + opinions)


@retry_transaction
def undo(project: Project, user: User, annotation_id: int, lease_minutes: float) -> int:
    """Undo an annotation (its author's account or an admin); the label it replaced, if any, is
    current again, and the image goes back to its author's queue. Returns the image id.

    Rights go by account id, never by display name: a label from the command line or an import has
    no account, so only an admin may undo it. The row stays, marked deleted, for audit."""
    with project.sessions.begin() as session:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None or annotation.deleted_at is not None:
            raise NotFoundError(f"annotation {annotation_id}: not found")
        own = annotation.user_id is not None and annotation.user_id == user.id
        if not own and user.role != "admin":
            raise ForbiddenError(f"annotation {annotation_id}: only its author or an admin may undo it")
        image_id = annotation.image_id
        was_current = not annotation.superseded
        annotation.superseded = True
        annotation.deleted_at, annotation.deleted_by = utcnow(), user.id
        session.flush()
        if annotation.opinion:  # a second opinion: its author is asked for it again
            reopen_opinion(session, annotation, lease_minutes)
        if was_current:
            previous = session.scalar(
                select(Annotation)
                .where(Annotation.image_id == image_id, Annotation.deleted_at.is_(None))
                .order_by(Annotation.id.desc())
                .limit(1)
            )
            if previous is not None:
                previous.superseded = False
            else:
                # Unlabeled again: the image goes back to its author's queue, leased to them.
                lease = session.get(Lease, image_id, with_for_update=True)
                if lease is not None:
                    lease.done, lease.user_id = False, user.id
                    lease.expires_at = utcnow() + timedelta(minutes=lease_minutes)
    INDEXES.note_free(str(project.folder), image_id)  # unlabeled again: the queue may offer it again
    return image_id


@retry_transaction
def skip(project: Project, user: User, image_id: int) -> None:
    with project.sessions.begin() as session:
        if session.get(Image, image_id) is None:
            raise NotFoundError(f"image_id: no image {image_id}")
        session.add(Skip(image_id=image_id, user_id=user.id))
        session.execute(delete(Lease).where(Lease.image_id == image_id, Lease.user_id == user.id))
        release_opinion(session, user.id, image_id)


def label_count(project: Project) -> int:
    with project.sessions() as session:
        return session.scalar(select(func.count()).select_from(Annotation).where(Annotation.superseded.is_(False)))


def recent_labels(project: Project, user: User, limit: int = 20) -> list[dict]:
    """``user``'s latest current labels from the annotate page, newest last: the page's undo stack
    survives a reload or Back because it is rebuilt from here."""
    with project.sessions.begin() as session:
        rows = session.execute(
            select(Annotation.id, Annotation.image_id, Image.path, LabelClass.name)
            .join(Image, Image.id == Annotation.image_id)
            # outer: a multi-label label has no single class (its set is read below)
            .outerjoin(LabelClass, LabelClass.id == Annotation.class_id)
            .where(Annotation.user_id == user.id, Annotation.source == "server", Annotation.deleted_at.is_(None))
            .where(Annotation.superseded.is_(False) | Annotation.opinion.is_(True))  # second opinions are undoable
            .order_by(Annotation.id.desc())
            .limit(limit)
        ).all()
        sets = label_sets_of(session, [r[0] for r in rows if r[3] is None]) if project.multi_label else {}
    names = project.class_names() if sets else []
    return [
        {"id": r[0], "image_id": r[1], "path": r[2],
         "label": r[3] if r[0] not in sets else "; ".join(names[p] for p in sets[r[0]]) or "none",
         "labels": [names[p] for p in sets[r[0]]] if r[0] in sets else None}
        for r in reversed(rows)
    ]  # fmt: skip
