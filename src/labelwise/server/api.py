"""The JSON API under ``/api/``. Route functions only translate: the work is in labelwise.project."""

from __future__ import annotations

import mimetypes
from dataclasses import fields
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, PlainTextResponse

from labelwise.errors import ConflictError, ForbiddenError, LabelwiseError, NotFoundError
from labelwise.project import classes, images, queue
from labelwise.project.dashboard import dashboard_status
from labelwise.project.export import FORMATS, export_image_folder, export_text
from labelwise.project.grid import GridFilters, image_grid
from labelwise.project.near_duplicates import near_duplicate_counts
from labelwise.project.preselect import preselections
from labelwise.project.settings import get_settings, update_settings
from labelwise.project.similar import MAX_BATCH, SimilarBatch, group_batch, label_batch, similar_unlabeled
from labelwise.server.deps import Admin, CurrentUser
from labelwise.server.schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    AnnotationRequest,
    AnnotationResponse,
    BatchLabelRequest,
    BatchLabelResponse,
    ClassesResponse,
    ClassNamesResponse,
    ClassRequest,
    GridResponse,
    ImageFolderExportResponse,
    MergeRequest,
    QueueItem,
    QueueRequest,
    QueueResponse,
    RecentLabel,
    RecentLabelsResponse,
    RenewRequest,
    RenewResponse,
    SettingsBody,
    SettingsResponse,
    SimilarItem,
    SimilarResponse,
    SkipRequest,
    SkipResponse,
    StatusResponse,
    StatusUser,
    TopClass,
    TrainResponse,
    UndoResponse,
)

# Every route may answer with these errors, all as {"detail": "one line"} (see app.py's handlers).
router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
# Ids are 32-bit integers in the database: larger ones are refused (422) before any query.
ImageId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
AnnotationId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


def _state(request: Request):
    return request.app.state


@router.get("/status", response_model=StatusResponse)
def status(request: Request, user: CurrentUser) -> StatusResponse:
    state = _state(request)
    figures = dashboard_status(state.project, state.retrainer.ranking, state.retrainer.training)
    return StatusResponse(**{f.name: getattr(figures, f.name) for f in fields(figures)},
                          user=StatusUser(name=user.name, role=user.role))  # fmt: skip


@router.post("/queue/next", response_model=QueueResponse)
def queue_next(body: QueueRequest, request: Request, user: CurrentUser) -> QueueResponse:
    state = _state(request)
    settings = get_settings(state.project)
    leased = queue.lease_next(state.project, user, body.n, state.retrainer.ranking, settings["lease_minutes"],
                              max_leases=settings["max_leases_per_user"])  # fmt: skip
    # No pre-selection on a multi-label project: its probabilities are per class, not one class's.
    threshold = None if state.project.multi_label else settings["preselect_threshold"]
    chosen = preselections(state.project, {item.image_id: item.top for item in leased}, threshold)
    near_duplicates = near_duplicate_counts(state.project, [item.image_id for item in leased])
    return QueueResponse(items=[
        QueueItem(
            image_id=item.image_id, path=item.path, file_url=f"/api/images/{item.image_id}/file",
            thumb_url=f"/api/images/{item.image_id}/thumb", lease_expires_at=item.expires_at.isoformat(),
            model_version=item.model_version, strategy=item.strategy, score=item.score,
            top=[TopClass(label=name, p=p) for name, p in item.top],
            preselected=chosen[item.image_id],
            near_duplicates=near_duplicates[item.image_id],
        )
        for item in leased
    ])  # fmt: skip


@router.post("/queue/renew")
def renew_leases(body: RenewRequest, request: Request, user: CurrentUser) -> RenewResponse:
    state = _state(request)
    kept = queue.renew(state.project, user, body.image_ids, get_settings(state.project)["lease_minutes"])
    return RenewResponse(renewed=kept)


@router.post("/annotations", status_code=201, response_model=AnnotationResponse)
def create_annotation(body: AnnotationRequest, request: Request, user: CurrentUser):
    state = _state(request)
    if body.preselected is not None and body.preselected not in state.project.class_names():
        raise HTTPException(422, f"preselected: unknown class {body.preselected!r}")
    annotation_id = queue.annotate(state.project, user, body.image_id, body.label, state.retrainer.ranking,
                                    queued=body.queued, preselected=body.preselected)  # fmt: skip
    state.retrainer.notify_label()
    return AnnotationResponse(id=annotation_id, image_id=body.image_id, label=body.label)


@router.post("/annotations/batch", response_model=BatchLabelResponse)
def create_batch(body: BatchLabelRequest, request: Request, user: CurrentUser) -> BatchLabelResponse:
    """Label many images as one class (a similar-image batch); each label records ``source=batch``.
    Images somebody else holds or labeled meanwhile come back refused, with the reason."""
    state = _state(request)
    result = label_batch(state.project, user, body.image_ids, body.label)
    if result.labeled:
        state.retrainer.notify_label()
    return BatchLabelResponse(label=body.label, labeled=result.labeled,
                              refused=[{"image_id": i, "reason": why} for i, why in result.refused])  # fmt: skip


@router.get("/annotations/mine", response_model=RecentLabelsResponse)
def my_recent_labels(request: Request, user: CurrentUser, limit: int = 20) -> RecentLabelsResponse:
    items = queue.recent_labels(_state(request).project, user, max(1, min(limit, 100)))
    return RecentLabelsResponse(items=[RecentLabel(**item, file_url=f"/api/images/{item['image_id']}/file")
                                       for item in items])  # fmt: skip


@router.delete("/annotations/{annotation_id}")
def delete_annotation(annotation_id: AnnotationId, request: Request, user: CurrentUser) -> UndoResponse:
    state = _state(request)
    image_id = queue.undo(state.project, user, annotation_id, get_settings(state.project)["lease_minutes"])
    return UndoResponse(undone=annotation_id, image_id=image_id)


@router.post("/skip")
def skip_image(body: SkipRequest, request: Request, user: CurrentUser) -> SkipResponse:
    queue.skip(_state(request).project, user, body.image_id)
    return SkipResponse(skipped=body.image_id)


@router.get(
    "/images/{image_id}/file",
    responses={200: {"content": {"image/*": {}}, "description": "the file"}},
)
def image_file(image_id: ImageId, request: Request, user: CurrentUser) -> Response:
    project = _state(request).project
    path = images.image_file(project, image_id)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if isinstance(path, Path):
        return FileResponse(path, media_type=media_type)
    # An object on an object store (s3://...): read through its file system, whole (a picture).
    return Response(images.image_bytes(project, image_id), media_type=media_type)


@router.get(
    "/images/{image_id}/thumb",
    responses={200: {"content": {"image/jpeg": {}}, "description": "a JPEG at most 256 px"}},
)
def image_thumb(image_id: ImageId, request: Request, user: CurrentUser) -> FileResponse:
    return FileResponse(images.thumbnail(_state(request).project, image_id), media_type="image/jpeg")


@router.get("/images/{image_id}/similar", response_model=SimilarResponse)
def similar_images(
    image_id: ImageId, request: Request, user: CurrentUser, n: Annotated[int, Query(ge=1, le=MAX_BATCH)] = MAX_BATCH
) -> SimilarResponse:
    """The unlabeled images nearest to this one (cosine, projected embeddings), most similar first."""
    return _similar_response(similar_unlabeled(_state(request).project, image_id, n))


@router.get("/images/{image_id}/group", response_model=SimilarResponse)
def near_duplicate_group(image_id: ImageId, request: Request, user: CurrentUser) -> SimilarResponse:
    """The unlabeled near-duplicates of this image (its group; none when grouping is off)."""
    return _similar_response(group_batch(_state(request).project, image_id))


def _similar_response(batch: SimilarBatch) -> SimilarResponse:
    """A batch of images like one (similar search or its near-duplicate group), with thumbnail links."""
    return SimilarResponse(image_id=batch.image_id, path=batch.path, label=batch.label, items=[
        SimilarItem(image_id=i.image_id, path=i.path, thumb_url=f"/api/images/{i.image_id}/thumb",
                    similarity=i.similarity)
        for i in batch.items
    ])  # fmt: skip


@router.get("/images", response_model=GridResponse)
def list_images(
    request: Request,
    user: CurrentUser,
    status: str = "ok",
    label: str | None = None,
    labeled: bool | None = None,
    predicted: str | None = None,
    sort: str = "path",
    q: Annotated[str | None, Query(max_length=200, description="part of the file path, any case")] = None,
    group: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the near-duplicate group of an image id")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 60,
    after: Annotated[str | None, Query(max_length=8192, description="the `next` of the previous page")] = None,
) -> GridResponse:
    state = _state(request)
    filters = GridFilters(status=status, label=label, labeled=labeled, predicted=predicted, search=q, sort=sort,
                          group=group)  # fmt: skip
    page = image_grid(state.project, state.retrainer.ranking, filters, offset=offset, limit=min(limit, 500),
                      after=after)  # fmt: skip
    return GridResponse.model_validate(page)


@router.post("/train", status_code=202)
def train(request: Request, user: Admin) -> TrainResponse:
    _state(request).retrainer.request()
    return TrainResponse(requested=True)


@router.get("/settings", response_model=SettingsResponse)
def read_settings(request: Request, user: CurrentUser) -> SettingsResponse:
    return SettingsResponse(**get_settings(_state(request).project))


@router.put("/settings", response_model=SettingsResponse)
def write_settings(body: SettingsBody, request: Request, user: Admin) -> SettingsResponse:
    return SettingsResponse(**update_settings(_state(request).project, body.changes(), user.name))


@router.post("/classes", status_code=201)
def add_class(body: ClassRequest, request: Request, user: Admin) -> ClassNamesResponse:
    """Add a class, or put a retired one back in service (409 if it is offered already)."""
    project = _state(request).project
    if not classes.add_class(project, body.name, user.name):
        raise HTTPException(409, f"name: class {body.name!r} exists already")
    return ClassNamesResponse(classes=project.class_names())


EXPORT_SUFFIX = {"csv": "csv", "json": "json", "coco": "coco.json", "label-studio": "label-studio.json"}


@router.get(
    "/export",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}, "description": "the labels as a download"}},
)
def export(request: Request, user: Admin, format: str = "csv") -> Response:
    if format not in FORMATS:
        raise HTTPException(422, f"format: {format!r} is not one of {', '.join(FORMATS)}")
    text = export_text(_state(request).project, format)
    media = "text/csv" if format == "csv" else "application/json"
    filename = "labels." + EXPORT_SUFFIX[format]
    return PlainTextResponse(
        text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post("/export/imagefolder", status_code=201)
def export_folder(request: Request, user: Admin) -> ImageFolderExportResponse:
    folder, count, linked = export_image_folder(_state(request).project)
    return ImageFolderExportResponse(folder=str(folder), images=count, hard_links=linked)


# Class maintenance (issue 20, item 11). The class is named in the path, URL-encoded; a retrain is asked
# for after a rename or merge, so that the served predictions use the classes as they are now.
ClassName = Annotated[str, PathParam(min_length=1, max_length=255)]


def _classes(project) -> ClassesResponse:
    return ClassesResponse(
        classes=[vars(c) for c in classes.list_classes(project)], history=classes.class_history(project)
    )


@router.get("/classes", response_model=ClassesResponse)
def list_classes(request: Request, user: CurrentUser) -> ClassesResponse:
    return _classes(_state(request).project)


@router.put("/classes/{name}", response_model=ClassesResponse)
def rename_class(name: ClassName, body: ClassRequest, request: Request, user: Admin) -> ClassesResponse:
    state = _state(request)
    classes.rename_class(state.project, name, body.name, user.name)
    state.retrainer.request()
    return _classes(state.project)


@router.post("/classes/{name}/merge", response_model=ClassesResponse)
def merge_class(name: ClassName, body: MergeRequest, request: Request, user: Admin) -> ClassesResponse:
    state = _state(request)
    classes.merge_classes(state.project, name, body.into, user.name)
    state.retrainer.request()
    return _classes(state.project)


@router.post("/classes/{name}/retire", response_model=ClassesResponse)
def retire_class(name: ClassName, request: Request, user: Admin) -> ClassesResponse:
    state = _state(request)
    classes.retire_class(state.project, name, user.name)
    return _classes(state.project)


def error_status(exc: LabelwiseError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, ForbiddenError):
        return 403
    return 422
