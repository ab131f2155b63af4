"""What a project holds: counts, labels per class, broken files."""

from __future__ import annotations

from sqlalchemy import func, select

from labelwise.project.labels import current_labels
from labelwise.project.multilabel_labels import current_label_sets
from labelwise.project.near_duplicates import near_duplicate_summary
from labelwise.project.project import Project
from labelwise.store.models import STATUS_BROKEN, STATUS_DUPLICATE, STATUS_MISSING, STATUS_OK, Image


def project_status(project: Project) -> dict:
    with project.sessions() as session:
        counts = dict(session.execute(select(Image.status, func.count()).group_by(Image.status)).all())
        broken = [
            {"path": path, "reason": reason}
            for path, reason in session.execute(
                select(Image.path, Image.reason).where(Image.status == STATUS_BROKEN).order_by(Image.path)
            )
        ]
        missing = list(session.scalars(select(Image.path).where(Image.status == STATUS_MISSING).order_by(Image.path)))
        review = [
            {"path": path, "reason": reason}
            for path, reason in session.execute(
                select(Image.path, Image.review_reason)
                .where(Image.status == STATUS_OK, Image.review_reason.is_not(None))
                .order_by(Image.path)
            )
        ]
        ok_ids = set(session.scalars(select(Image.id).where(Image.status == STATUS_OK)))
        labels = {i: c for i, c in current_labels(session).items() if i in ok_ids}
        sets = {i: s for i, s in current_label_sets(session).items() if i in ok_ids} if project.multi_label else {}
    classes = project.class_names()
    per_class = {name: 0 for name in classes}
    for position in labels.values():
        per_class[classes[position]] += 1
    for positions in sets.values():  # multi-label: an image counts once for each of its classes
        for position in positions:
            per_class[classes[position]] += 1
    labels.update({i: -1 for i in sets})
    return {
        "project": str(project.folder),
        "images_root": project.config.images_root,
        "backbone": project.config.backbone,
        "kind": project.kind,  # single-label or multi-label, fixed at init
        "images_ok": counts.get(STATUS_OK, 0),
        "images_broken": counts.get(STATUS_BROKEN, 0),
        "images_duplicate": counts.get(STATUS_DUPLICATE, 0),
        "images_missing": counts.get(STATUS_MISSING, 0),
        "labeled": len(labels),
        "unlabeled": len(ok_ids) - len(labels),
        "classes": per_class,
        "store_vectors": len(project.store),
        "store_bytes": project.store.nbytes(),
        "broken": broken,
        "missing": missing,
        "to_review": review,
        # Different files of nearly one picture (cosine of the embeddings at least the project's
        # near_duplicate_threshold): each a list of paths.
        "near_duplicate_groups": near_duplicate_summary(project),
    }
