"""``create_app``: the FastAPI application over one project folder."""

from __future__ import annotations

import importlib.util
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.project.check import log_project_check
from labelwise.server import api, label_studio_backend, pages, review
from labelwise.server.auth import COOKIE, FOUND, credential_user, current_user
from labelwise.server.guard import BODY_TIMEOUT_S, Guard
from labelwise.server.worker import Retrainer

MAX_BODY_BYTES = 64 * 1024
HERE = Path(__file__).parent


def uvicorn_protocols() -> dict[str, str]:
    """uvicorn's HTTP parser and event loop, chosen here so that ``serve`` says which: the C ones
    (httptools, uvloop: pyproject's dependencies) when installed, else the pure-Python h11 and asyncio.
    Every request is parsed in the event loop's thread, which shares the interpreter lock with the
    routes; the C parser leaves more of it to them (issue 8, fourth pass)."""
    found = {name: importlib.util.find_spec(name) is not None for name in ("httptools", "uvloop")}
    return {"http": "httptools" if found["httptools"] else "h11", "loop": "uvloop" if found["uvloop"] else "asyncio"}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def create_app(
    folder: str | Path, *, start_worker: bool = True, behind_https: bool = False, body_timeout: float = BODY_TIMEOUT_S
) -> FastAPI:
    project = Project(folder)  # refuses a database with pending migrations
    log_project_check(project)
    retrainer = Retrainer(folder)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_worker:
            retrainer.start()
        yield
        if start_worker:
            retrainer.stop()
        project.close()
        retrainer.project.close()

    app = FastAPI(
        title="labelwise", version="0.1.0", lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,  # served below, behind the login
    )  # fmt: skip
    app.state.project = project
    app.state.retrainer = retrainer
    app.state.behind_https = behind_https  # cookies get Secure

    app.add_middleware(Guard, project=project, authenticate=credential_user, cookie=COOKIE,
                       max_body=MAX_BODY_BYTES, body_timeout=body_timeout, found_key=FOUND)  # fmt: skip

    @app.exception_handler(LabelwiseError)
    async def labelwise_error(request: Request, exc: LabelwiseError):
        return JSONResponse({"detail": str(exc)}, status_code=api.error_status(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            message = "malformed JSON" if error.get("type") == "json_invalid" else error.get("msg", "invalid")
            problems.append(f"{where}: {message}")
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 401 and _wants_html(request):
            context = {"user": None, "error": exc.detail, "next": request.url.path}
            return HTMLResponse(pages.render(request, "login.html", context), 401)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        current_user(request)
        return JSONResponse(app.openapi())

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(review.router)
    app.include_router(label_studio_backend.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
