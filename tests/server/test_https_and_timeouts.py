"""Secure cookies behind an HTTPS proxy; a client that stalls its body is cut off."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from labelwise.server.app import create_app
from tests.utils.server import free_port


@pytest.mark.parametrize("behind_https", [False, True])
def test_login_cookie_is_secure_only_behind_https(server_project, behind_https):
    folder, tokens = server_project
    app = create_app(folder, start_worker=False, behind_https=behind_https)
    try:
        # A forged X-Forwarded-Proto changes nothing: only the flag decides.
        response = TestClient(app).get(
            f"/login?token={tokens['ann']}", follow_redirects=False, headers={"X-Forwarded-Proto": "https"}
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert ("; secure" in cookie) is behind_https
        assert "httponly" in cookie
    finally:
        app.state.project.close()
        app.state.retrainer.project.close()


def test_a_request_whose_body_stalls_is_cut_off(server_project):
    folder, tokens = server_project
    app = create_app(folder, start_worker=False, body_timeout=1.0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(
                b"PUT /api/settings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {tokens['admin']}\r\n".encode()
                + b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"expl'
            )
            started = time.monotonic()
            answer = raw.recv(4096)  # before the fix: nothing comes, recv times out after 10 s
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert waited < 5
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.project.close()
        app.state.retrainer.project.close()
