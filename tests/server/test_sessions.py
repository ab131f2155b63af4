"""Server-side sessions: the cookie is a random session id, logout revokes it, sessions expire,
and the printed login link carries a one-time code."""

from __future__ import annotations

from fastapi.testclient import TestClient

from labelwise.project.sessions import login_code, start_session
from labelwise.project.users import disable_user
from labelwise.server.auth import COOKIE


def test_the_cookie_holds_a_session_not_the_token_and_logout_revokes_it(client, server_project):
    _, tokens = server_project
    browser = TestClient(client.app)
    assert browser.get(f"/login?token={tokens['ann']}", follow_redirects=False).status_code == 303
    session_id = browser.cookies.get(COOKIE)
    assert session_id and session_id != tokens["ann"]
    assert browser.get("/api/status").status_code == 200
    assert browser.post("/logout", headers={"Origin": "http://testserver"}, follow_redirects=False).status_code == 303
    # Someone who copied the cookie before logout cannot use it afterwards.
    stolen = TestClient(client.app, cookies={COOKIE: session_id})
    assert stolen.get("/api/status").status_code == 401
    # The token itself is no cookie.
    assert TestClient(client.app, cookies={COOKIE: tokens["ann"]}).get("/api/status").status_code == 401


def test_sessions_expire_and_die_with_a_disabled_account(client):
    project = client.app.state.project
    ann_id = _user_id(project, "ann")
    expired = start_session(project, ann_id, days=-1)
    assert TestClient(client.app, cookies={COOKIE: expired}).get("/api/status").status_code == 401
    live = start_session(project, ann_id)
    assert TestClient(client.app, cookies={COOKIE: live}).get("/api/status").status_code == 200
    disable_user(project, "ann")
    assert TestClient(client.app, cookies={COOKIE: live}).get("/api/status").status_code == 401


def test_the_login_link_code_works_once(client):
    project = client.app.state.project
    code = login_code(project, "bob")
    first = TestClient(client.app)
    assert first.get(f"/login?code={code}", follow_redirects=False).status_code == 303
    assert first.get("/api/status").status_code == 200
    second = TestClient(client.app)
    assert second.get(f"/login?code={code}", follow_redirects=False).status_code == 401
    assert second.get("/api/status").status_code == 401
    expired = login_code(project, "bob", minutes=-1)
    assert TestClient(client.app).get(f"/login?code={expired}", follow_redirects=False).status_code == 401


def _user_id(project, name: str) -> int:
    from sqlalchemy import select

    from labelwise.store.models import User

    with project.sessions() as session:
        return session.scalar(select(User.id).where(User.name == name))
