"""Typed FastAPI dependencies shared by the API and the pages: who is asking, and the project."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from labelwise.project.project import Project
from labelwise.project.users import User
from labelwise.server.auth import admin_user, current_user

CurrentUser = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(admin_user)]


def _project(request: Request) -> Project:
    return request.app.state.project


ProjectDep = Annotated[Project, Depends(_project)]
