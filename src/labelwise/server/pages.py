"""Server-rendered pages with a little plain JavaScript; every page needs a logged-in person."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from labelwise.project.sessions import SESSION_DAYS, end_session, redeem_login_code, start_session
from labelwise.project.settings import get_settings
from labelwise.project.users import user_for_token
from labelwise.server.auth import COOKIE, admin_user, current_user
from labelwise.server.status import server_status
from labelwise.store.models import User
from labelwise.strategies import get_strategy, strategy_names

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
CurrentUser = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(admin_user)]


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


@router.get("/login")
def login_link(request: Request, code: str | None = None, token: str | None = None, next: str | None = None):
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


@router.post("/login")
def login_form(request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = ""):
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


def learning_curve_svg(points: list[dict], width: int = 560, height: int = 220) -> str:
    """Audit-estimated accuracy against labels, one point per retrain, with its 95% interval as a
    band, as inline SVG."""
    if not points:
        return ""
    pad = 36
    xs = [p["n_labels"] for p in points]
    lo_x, hi_x = min(xs), max(max(xs), min(xs) + 1)

    def px(x: float) -> float:
        return pad + (x - lo_x) / (hi_x - lo_x) * (width - 2 * pad)

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
    grid = "".join(
        f'<line x1="{pad}" x2="{width - pad}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>'
        f'<text x="4" y="{py(t) + 4:.1f}">{t:.1f}</text>'
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    return (
        f'<svg class="curve" viewBox="0 0 {width} {height}" role="img" aria-label="learning curve">{grid}'
        f'<polygon points="{upper} {lower}" class="band"/><polyline points="{line}" class="line"/>{dots}'
        f'<text x="{width / 2:.0f}" y="{height - 6}" text-anchor="middle">labels ({lo_x}–{max(xs)})</text></svg>'
    )


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: CurrentUser) -> HTMLResponse:
    state = request.app.state
    status = server_status(state.project, state.retrainer)
    strategies = [(name, get_strategy(name).summary) for name in strategy_names()]
    return _page(request, "dashboard.html", user, status=status, curve=learning_curve_svg(status["learning_curve"]),
                 strategies=strategies)  # fmt: skip


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
    classes = project.class_names()
    config = {"classes": classes, "keys": label_keys(len(classes)),
              "lease_minutes": get_settings(project)["lease_minutes"], "min_look_ms": MIN_LOOK_MS}  # fmt: skip
    return _page(request, "annotate.html", user, classes=list(zip(classes, config["keys"], strict=True)),
                 config=config)  # fmt: skip


@router.get("/images", response_class=HTMLResponse)
def images(request: Request, user: CurrentUser) -> HTMLResponse:
    classes = request.app.state.project.class_names()
    return _page(request, "images.html", user, classes=classes)


@router.get("/export", response_class=HTMLResponse)
def export_page(request: Request, user: Admin) -> HTMLResponse:
    return _page(request, "export.html", user)
