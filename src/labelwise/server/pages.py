"""Server-rendered pages with a little plain JavaScript; every page needs a logged-in person."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from labelwise.project.classes import active_class_names, class_history, list_classes
from labelwise.project.dashboard import dashboard_status
from labelwise.project.sessions import SESSION_DAYS, end_session, redeem_login_code, start_session
from labelwise.project.settings import get_settings, head_choices, strategy_choices
from labelwise.project.similar import MAX_BATCH
from labelwise.project.users import User, user_for_token
from labelwise.server.auth import COOKIE
from labelwise.server.deps import CurrentUser
from labelwise.server.schemas import MAX_ID

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)


def plain_number(value: float | int | None) -> str:
    """A setting as a person writes it: 10, not 10.0; 0.25 as is; nothing for None."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


templates.filters["plain"] = plain_number


def render(request: Request, name: str, context: dict) -> str:
    return templates.get_template(name).render(request=request, **context)


def _page(request: Request, name: str, user: User, **context) -> HTMLResponse:
    project = request.app.state.project
    return HTMLResponse(render(request, name, {"user": user, "project": project.folder.name, **context}))


def _login(request: Request, user: User, target: str = "/") -> RedirectResponse:
    response = RedirectResponse(target, status_code=303)
    # Behind an HTTPS proxy (serve --behind-https) the cookie is Secure: a browser never sends it
    # over plain HTTP. Without the flag the server speaks plain HTTP, where a Secure cookie would be dropped.
    secure = bool(getattr(request.app.state, "behind_https", False))
    session_id = start_session(request.app.state.project, user.id)
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="lax", max_age=SESSION_DAYS * 24 * 3600,
                        secure=secure)  # fmt: skip
    return response


def local_target(next_path: str | None) -> str:
    """Where to go after logging in: a path of this site only (never ``//host`` or a URL elsewhere)."""
    if next_path and next_path.startswith("/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_link(
    request: Request, code: str | None = None, token: str | None = None, next: str | None = None
) -> Response:
    """The login link: ``/login?code=...`` (a one-time code printed by serve/demo; a second use is
    refused) or ``/login?token=...`` starts a session and opens the dashboard, or the page the person
    was on when the session ended (``next``)."""
    target = local_target(next)
    project = request.app.state.project
    user = redeem_login_code(project, code) if code else user_for_token(project, token) if token else None
    if user is not None:
        return _login(request, user, target)
    error = "that login code is not valid (used, expired or unknown)" if code else "that token is not valid"
    context = {"user": None, "error": error if code or token else None, "next": target if next else ""}
    return HTMLResponse(render(request, "login.html", context), 401 if code or token else 200)


@router.post("/login", response_class=HTMLResponse)
def login_form(request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "") -> Response:
    user = user_for_token(request.app.state.project, token.strip())
    if user is not None:
        return _login(request, user, local_target(next))
    context = {"user": None, "error": "that token is not valid", "next": next}
    return HTMLResponse(render(request, "login.html", context), 401)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    end_session(request.app.state.project, request.cookies.get(COOKIE))  # the cookie is dead even if kept
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def nice_ticks(low: float, high: float, most: int = 7) -> list[int]:
    """Round label counts from ``low`` to ``high`` for the x axis: at most ``most`` ticks, a step of
    1, 2 or 5 times a power of ten."""
    span = max(high - low, 1)
    step = next(m * 10**e for e in range(12) for m in (1, 2, 5) if span / (m * 10**e) <= most - 1)
    first = -(-int(low) // step) * step  # the first multiple of step at or above low
    return list(range(first, int(high) + 1, step))


def learning_curve_svg(points: list[dict], width: int = 560, height: int = 220) -> str:
    """Audit-estimated accuracy against labels, one point per retrain, with its 95% interval as a
    band, as inline SVG, with both axes labeled and ticked."""
    if not points:
        return ""
    pad, left = 36, 44
    xs = [p["n_labels"] for p in points]
    # From 0 labels: one point (the first retrain) is then a point on an axis, not a 30-31 range.
    lo_x, hi_x = 0, max(max(xs), 1)

    def px(x: float) -> float:
        return left + (x - lo_x) / (hi_x - lo_x) * (width - left - pad)

    def py(y: float) -> float:
        return height - pad - y * (height - 2 * pad)

    upper = " ".join(f"{px(p['n_labels']):.1f},{py(p['high']):.1f}" for p in points)
    lower = " ".join(f"{px(p['n_labels']):.1f},{py(p['low']):.1f}" for p in reversed(points))
    line = " ".join(f"{px(p['n_labels']):.1f},{py(p['accuracy']):.1f}" for p in points)
    dots = "".join(
        f'<circle cx="{px(p["n_labels"]):.1f}" cy="{py(p["accuracy"]):.1f}" r="3"><title>v{p["version"]}: '
        f"{p['accuracy']:.3f} ({p['low']:.3f}-{p['high']:.3f}, {p['n_audit']} audit labels) "
        f"at {p['n_labels']} labels</title></circle>"
        for p in points
    )
    # Two decimals: 0.25 and 0.75 were printed as 0.2 and 0.8.
    grid = "".join(
        f'<line x1="{left}" x2="{width - pad}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>'
        f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" class="ytick">{t:.2f}</text>'
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    base = height - pad
    xticks = "".join(
        f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{base}" y2="{base + 4}" class="axis"/>'
        f'<text x="{px(t):.1f}" y="{base + 15}" text-anchor="middle" class="xtick">{t}</text>'
        for t in nice_ticks(lo_x, hi_x)
    )
    return (
        f'<svg class="curve" viewBox="0 0 {width} {height}" role="img" aria-label="learning curve">{grid}{xticks}'
        f'<polygon points="{upper} {lower}" class="band"/><polyline points="{line}" class="line"/>{dots}'
        f'<text x="12" y="{height / 2:.0f}" transform="rotate(-90 12 {height / 2:.0f})" text-anchor="middle">'
        f"accuracy</text>"
        f'<text x="{(left + width - pad) / 2:.0f}" y="{height - 4}" text-anchor="middle">labels</text></svg>'
    )


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: CurrentUser) -> HTMLResponse:
    state = request.app.state
    status = dashboard_status(state.project, state.retrainer.ranking, state.retrainer.training)
    strategies = strategy_choices()
    curve = learning_curve_svg([asdict(point) for point in status.learning_curve])
    return _page(request, "dashboard.html", user, status=status, curve=curve,
                 strategies=strategies, heads=head_choices(), class_rows=list_classes(state.project),
                 class_history=class_history(state.project, limit=8))  # fmt: skip


# An image must be on screen this long before a key or click labels it: a double tap or a held key
# lands on the next image within a few tens of ms, while a person needs well over 150 ms to see it.
MIN_LOOK_MS = 150
# Digits, then letters; s (skip) and z (undo) are taken.
KEYS = [*"1234567890", *"abcdefghijklmnopqrtuvwxy"]


def label_keys(n: int) -> list[str]:
    """The key of each class in order, '' past the last key."""
    return [KEYS[i] if i < len(KEYS) else "" for i in range(n)]


@router.get("/annotate", response_class=HTMLResponse)
def annotate(request: Request, user: CurrentUser) -> HTMLResponse:
    project = request.app.state.project
    classes = active_class_names(project)  # a retired class is not offered; its labels stay
    config = {"classes": classes, "keys": label_keys(len(classes)),
              "lease_minutes": get_settings(project)["lease_minutes"], "min_look_ms": MIN_LOOK_MS,
              "multi_label": project.multi_label}  # fmt: skip
    return _page(request, "annotate.html", user, classes=list(zip(classes, config["keys"], strict=True)),
                 config=config)  # fmt: skip


@router.get("/similar", response_class=HTMLResponse)
def similar(
    request: Request,
    user: CurrentUser,
    image: Annotated[int, Query(ge=1, le=MAX_ID)],
    label: str | None = None,
    group: bool = False,
) -> HTMLResponse:
    """Label similar: the nearest unlabeled images of ``image``, pre-ticked with ``label`` (default:
    the image's own label); ``group``: its near-duplicates instead ("label the group")."""
    classes = active_class_names(request.app.state.project)
    config = {"image_id": image, "label": label if label in classes else None, "n": MAX_BATCH, "classes": classes,
              "keys": label_keys(len(classes)), "group": group}  # fmt: skip
    back = local_target(request.query_params.get("back"))
    return _page(request, "similar.html", user, classes=list(zip(classes, config["keys"], strict=True)),
                 config=config, back=back)  # fmt: skip


@router.get("/images", response_class=HTMLResponse)
def images(request: Request, user: CurrentUser) -> HTMLResponse:
    project = request.app.state.project
    # Filters know every class (old labels of a retired class stay findable); relabeling offers the active ones.
    return _page(request, "images.html", user, classes=list_classes(project), active=active_class_names(project))


@router.get("/export", response_class=HTMLResponse)
def export_page(request: Request, user: CurrentUser) -> HTMLResponse:
    # A page, not the API's JSON refusal: an annotator who follows a link here reads why not.
    if user.role != "admin":
        response = _page(request, "admins_only.html", user, what="Exporting the labels")
        response.status_code = 403
        return response
    return _page(request, "export.html", user)
