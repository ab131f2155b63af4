"""Overlap: a share of the images is labeled by more than one person, so that the team's agreement can
be measured and training can use the majority label.

Which images: a deterministic draw from each image's random key, ``rand_key % 1_000_000 <
overlap * 1_000_000``. The key is a keyed hash of the path; its high bits set the order of the
unranked queue and of the stopping set, its low digits are independent of them, so the overlap
images are not the first ones served, and the draw is the same in every database and every run.

How they are served: the primary queue (``queue.py``, one lease per image, a label replaces the
previous one) is left as it is. Once an overlap image has its label it wants
``labels_per_overlap_image - 1`` second opinions. Each is an :class:`OpinionLease`, one row per
(image, person): the primary key means nobody is asked twice for one image; whoever labeled the image
in any way is never asked; the image's row is locked while a second opinion is handed out, so no more
than the wanted number are out at once. Leases expire and are renewed like the primary ones.

Serving rule: the second opinions a person can give come *before* new images (oldest first label
first), so agreement figures appear early and an overlap image is not left half-done. There are at
most ``overlap * (labels_per_overlap_image - 1)`` of them per image labeled, so in a steady state
that is the share of served items that are second opinions over the share of new ones (0.1 and 2: one
second opinion for every ten new images). A second opinion is served without the model's prediction
and without pre-selection: the person gives their own opinion, not the first one's or the model's.

A second opinion is an annotation with ``opinion=True``, stored superseded (never the image's
current label), so exports, counts and the queue see one label per image as before; undo works on it
like on any annotation. Training uses the majority of the image's label and its opinions
(:func:`training_labels`); a tie is *disputed*: left out of training and listed for review until a
reviewer confirms or changes the label (a review is final).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from labelwise.errors import ConflictError
from labelwise.store.models import (
    STATUS_OK,
    Annotation,
    Image,
    LabelClass,
    LabelReview,
    OpinionLease,
    Setting,
    Skip,
    User,
    utcnow,
)

SCALE = 1_000_000  # the draw's resolution: shares are honoured to 1e-6
CHUNK = 64
REVIEW_SOURCE = "review"  # as in project/review.py, which imports this module
OPINION_STRATEGY = "second opinion"


def overlap_settings(session: Session) -> tuple[float, int]:
    """``(overlap, labels_per_overlap_image)`` as stored, read in the caller's transaction."""
    from labelwise.project.settings import DEFAULTS

    stored = dict(
        session.execute(
            select(Setting.key, Setting.value).where(Setting.key.in_(("overlap", "labels_per_overlap_image")))
        ).all()
    )
    share = json.loads(stored["overlap"]) if "overlap" in stored else DEFAULTS["overlap"]
    per_image = (
        json.loads(stored["labels_per_overlap_image"])
        if "labels_per_overlap_image" in stored
        else DEFAULTS["labels_per_overlap_image"]
    )
    return float(share), int(per_image)


def is_overlap_key(rand_key: int | None, share: float) -> bool:
    """Whether an image with this random key is drawn for overlap at ``share`` (same rule as the SQL)."""
    return rand_key is not None and rand_key % SCALE < round(share * SCALE)


def _drawn(share: float):
    return and_(Image.rand_key.is_not(None), Image.rand_key % SCALE < round(share * SCALE))


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _pending(now: datetime, user_id: int, share: float, wanted: int):
    """Overlap images this person may give a second opinion on, oldest label first: labeled (not by
    a review, not reviewed), never labeled by them in any way, not asked of them before, not skipped
    by them today, and with fewer than ``wanted`` second opinions given or out."""
    theirs = select(Annotation.image_id).where(Annotation.user_id == user_id)
    asked = select(OpinionLease.image_id).where(OpinionLease.user_id == user_id, OpinionLease.done.is_(True))
    skipped = select(Skip.image_id).where(Skip.user_id == user_id, Skip.skipped_at >= _start_of_day(now))
    reviewed = select(LabelReview.annotation_id)
    out = (
        select(func.count())
        .select_from(OpinionLease)
        .where(
            OpinionLease.image_id == Annotation.image_id,
            OpinionLease.user_id != user_id,
            or_(OpinionLease.done.is_(True), OpinionLease.expires_at > now),
        )
        .scalar_subquery()
    )
    return (
        select(Annotation.image_id)
        .join(Image, Image.id == Annotation.image_id)
        .where(
            Annotation.superseded.is_(False),
            Annotation.source != REVIEW_SOURCE,
            Annotation.id.not_in(reviewed),
            Image.status == STATUS_OK,
            _drawn(share),
            Annotation.image_id.not_in(theirs),
            Annotation.image_id.not_in(asked),
            Annotation.image_id.not_in(skipped),
            out < wanted,
        )
        .order_by(Annotation.id)
    )


def live_opinion_leases(session: Session, user_id: int, now: datetime) -> int:
    """Second opinions ``user_id`` holds now (counted against the per-person lease cap)."""
    return session.scalar(
        select(func.count())
        .select_from(OpinionLease)
        .where(OpinionLease.user_id == user_id, OpinionLease.done.is_(False), OpinionLease.expires_at > now)
    )


def lease_opinions(session: Session, user_id: int, n: int, now: datetime, expires: datetime) -> list[int]:
    """Up to ``n`` image ids for ``user_id``'s second opinions, in the caller's transaction: the ones
    they hold (renewed) first, then new ones. Called by ``queue.lease_next`` before the primary queue."""
    if n <= 0:
        return []
    share, per_image = overlap_settings(session)
    serving = share > 0 and per_image >= 2
    if serving:
        # A no-op write on the person's row first: it takes SQLite's write lock before the counts are
        # read (so they cannot change under us) and serializes one person's calls on PostgreSQL.
        # Overlap off, only the second opinions still held are renewed: no write otherwise.
        session.execute(update(User).where(User.id == user_id).values(id=User.id))
    held = list(
        session.scalars(
            select(OpinionLease)
            .where(OpinionLease.user_id == user_id, OpinionLease.done.is_(False), OpinionLease.expires_at > now)
            .order_by(OpinionLease.image_id)
            .limit(n)
            .with_for_update()
        )
    )
    for lease in held:
        lease.expires_at = expires
    got = [lease.image_id for lease in held]
    if not serving:
        return got
    tried: list[int] = []
    while len(got) < n:
        query = _pending(now, user_id, share, per_image - 1).limit(CHUNK)
        if got or tried:
            query = query.where(Annotation.image_id.not_in(got + tried))
        chunk = list(session.scalars(query))
        if not chunk:
            break
        for image_id in chunk:
            if len(got) >= n:
                break
            tried.append(image_id)
            if _take(session, image_id, user_id, now, expires, per_image - 1):
                got.append(image_id)
    return got


def _lock_image(session: Session, image_id: int) -> None:
    """Lock the image's row: every second opinion of one image is handed out or recorded in turn."""
    session.execute(update(Image).where(Image.id == image_id).values(id=Image.id))


def _others_out(session: Session, image_id: int, user_id: int, now: datetime) -> int:
    return session.scalar(
        select(func.count())
        .select_from(OpinionLease)
        .where(
            OpinionLease.image_id == image_id,
            OpinionLease.user_id != user_id,
            or_(OpinionLease.done.is_(True), OpinionLease.expires_at > now),
        )
    )


def _take(session: Session, image_id: int, user_id: int, now: datetime, expires: datetime, wanted: int) -> bool:
    """Hand one second opinion of ``image_id`` to ``user_id``; ``False`` if enough are out already."""
    _lock_image(session, image_id)
    if _others_out(session, image_id, user_id, now) >= wanted:
        return False
    mine = session.get(OpinionLease, (image_id, user_id), populate_existing=True)
    if mine is None:
        session.add(OpinionLease(image_id=image_id, user_id=user_id, expires_at=expires, done=False))
        session.flush()
    elif mine.done:
        return False
    else:  # their own lease of it ran out: taken again
        mine.expires_at = expires
    return True


def record_opinion(session: Session, image: Image, cls: LabelClass, user: User, now: datetime) -> Annotation | None:
    """Record ``user``'s second opinion of ``image`` if they hold (or held) one; ``None`` when they
    were not asked for one, so the caller treats the label as an ordinary one.

    A late opinion (the lease ran out) is kept as long as the wanted number was not reached by others
    meanwhile; one person's second label of the same image is refused (409)."""
    lease = session.get(OpinionLease, (image.id, user.id))
    if lease is None:
        return None
    _lock_image(session, image.id)
    session.refresh(lease)
    if lease.done:
        raise ConflictError(f"image_id: you already gave your second opinion of image {image.id}")
    if _aware(lease.expires_at) <= now:
        _, per_image = overlap_settings(session)
        if _others_out(session, image.id, user.id, now) >= per_image - 1:
            raise ConflictError(
                f"image_id: image {image.id} received its second opinions from others after your lease ran out; "
                "your label was not recorded"
            )
    annotation = Annotation(image_id=image.id, class_id=cls.id, annotator=user.name, source="server",
                            user_id=user.id, strategy=OPINION_STRATEGY, opinion=True, superseded=True)  # fmt: skip
    session.add(annotation)
    lease.done = True
    return annotation


def reopen_opinion(session: Session, annotation: Annotation, lease_minutes: float) -> None:
    """After the undo of a second opinion: the person holds that second opinion again."""
    if annotation.user_id is None:
        return
    lease = session.get(OpinionLease, (annotation.image_id, annotation.user_id))
    if lease is not None:
        lease.done = False
        lease.expires_at = utcnow() + timedelta(minutes=lease_minutes)


def renew_opinions(session: Session, user_id: int, image_ids: list[int], expires: datetime) -> list[int]:
    leases = session.scalars(
        select(OpinionLease).where(
            OpinionLease.image_id.in_(image_ids), OpinionLease.user_id == user_id, OpinionLease.done.is_(False)
        )
    ).all()
    for lease in leases:
        lease.expires_at = expires
    return [lease.image_id for lease in leases]


def release_opinion(session: Session, user_id: int, image_id: int) -> None:
    """A skipped second opinion goes back to the others (the skip keeps it from this person today)."""
    session.execute(
        delete(OpinionLease).where(
            OpinionLease.image_id == image_id, OpinionLease.user_id == user_id, OpinionLease.done.is_(False)
        )
    )


def pending_opinions(session: Session, share: float, per_image: int) -> int:
    """Second opinions still wanted on the overlap images labeled so far (out on lease or not yet)."""
    if share <= 0 or per_image < 2:
        return 0
    given = (
        select(func.count())
        .select_from(OpinionLease)
        .where(OpinionLease.image_id == Annotation.image_id, OpinionLease.done.is_(True))
        .scalar_subquery()
    )
    wanted = session.execute(
        select(func.count(), func.coalesce(func.sum(given), 0))
        .select_from(Annotation)
        .join(Image, Image.id == Annotation.image_id)
        .where(
            Annotation.superseded.is_(False),
            Annotation.source != REVIEW_SOURCE,
            Annotation.id.not_in(select(LabelReview.annotation_id)),
            Image.status == STATUS_OK,
            _drawn(share),
        )
    ).one()
    return max(0, int(wanted[0]) * (per_image - 1) - int(wanted[1]))
