"""Every JSON route of the app declares its response model (issue 15): the OpenAPI document then
describes every answer, and a route cannot start returning an unchecked dict by accident."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from labelwise.project import Project
from labelwise.project.settings import DEFAULTS
from labelwise.server.app import create_app
from labelwise.server.schemas import SettingsResponse


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("routes")
    (root / "images").mkdir()
    Project.create(root / "proj", root / "images", backbone="squeezenet").close()
    app = create_app(root / "proj", start_worker=False)
    yield app
    app.state.project.close()
    app.state.retrainer.project.close()


def _is_model(kind) -> bool:
    """A Pydantic model or a dataclass (FastAPI documents both), not dict, Any or a bare type."""
    return (inspect.isclass(kind) and issubclass(kind, BaseModel)) or dataclasses.is_dataclass(kind)


def _returns_a_response(route: APIRoute) -> bool:
    """The route answers with a Response of its own (a file, a download, a redirect, a page)."""
    declared = getattr(route.response_class, "value", route.response_class)  # FastAPI's DefaultPlaceholder
    if declared is not JSONResponse and issubclass(declared, HTMLResponse):
        return True
    annotation = typing.get_type_hints(route.endpoint).get("return")
    kinds = typing.get_args(annotation) or (annotation,)
    return bool(kinds) and all(inspect.isclass(k) and issubclass(k, Response) for k in kinds)


def api_routes(app) -> list[APIRoute]:
    """Every route of the app, those of included routers too (FastAPI 0.16x keeps an included
    router as one entry of ``app.routes``)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies the included routes into app.routes
        routes = list(app.routes)
    else:
        routes = [context.route for context in iter_route_contexts(app.router.routes)]
    return [r for r in routes if isinstance(r, APIRoute)]


def test_every_json_route_has_a_response_model(app):
    routes = api_routes(app)
    assert len(routes) > 30  # the walk sees the whole app, not one router
    missing = [
        f"{sorted(r.methods)} {r.path}"
        for r in routes
        if not _returns_a_response(r) and not _is_model(r.response_model)
    ]
    assert missing == [], f"JSON routes without a response model: {missing}"


def test_every_documented_json_answer_has_a_schema(app):
    """The same, read from the OpenAPI document: each 2xx JSON answer names a schema (downloads,
    files and pages answer with a Response of their own and are left out)."""
    json_routes = {(m.lower(), r.path) for r in api_routes(app) if not _returns_a_response(r) for m in r.methods}
    schema = app.openapi()
    bare = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if (method, path) not in json_routes:
                continue
            for code, answer in operation["responses"].items():
                content = answer.get("content", {}).get("application/json")
                if code.startswith("2") and content is not None and "$ref" not in str(content.get("schema", {})):
                    bare.append(f"{method.upper()} {path} {code}: {content.get('schema')}")
    assert bare == [], "\n".join(bare)


def test_the_settings_model_has_every_setting():
    assert set(SettingsResponse.model_fields) == set(DEFAULTS)
    assert SettingsResponse(**DEFAULTS).model_dump() == DEFAULTS
