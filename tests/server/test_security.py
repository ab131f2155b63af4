"""What an attack run found (issue 9): each finding, reproduced; each must stay fixed."""

from __future__ import annotations

import asyncio

from labelwise.server.app import MAX_BODY_BYTES


def drive(app, method: str, path: str, headers: dict[str, str], chunks: int, chunk_size: int = 64 * 1024):
    """Send a chunked body straight to the ASGI app; returns (status, body chunks the app pulled)."""
    pulled = 0
    answer: dict = {}

    async def receive():
        nonlocal pulled
        if pulled >= chunks:
            await asyncio.sleep(3600)
        pulled += 1
        return {"type": "http.request", "body": b"x" * chunk_size, "more_body": pulled < chunks}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = dict(message["headers"])

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "testserver", **headers}.items()],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    return answer["status"], pulled


def test_a_chunked_body_is_not_read_before_the_token_is_checked(client):
    status, pulled = drive(client.app, "PUT", "/api/settings", {"content-type": "application/json"}, chunks=200)
    assert status == 401
    assert pulled == 0


def test_a_chunked_body_is_cut_off_at_the_limit(client, server_project):
    _, tokens = server_project
    headers = {"authorization": f"Bearer {tokens['admin']}", "content-type": "application/json"}
    status, pulled = drive(client.app, "PUT", "/api/settings", headers, chunks=200)
    assert status == 413
    assert pulled <= MAX_BODY_BYTES // (64 * 1024) + 1


def test_class_names_are_escaped_for_the_script_context(client):
    import json

    from labelwise.server.pages import render

    evil = "</script><script>alert(1)</script>"
    classes = [evil, "Bag"]  # classes_json: what the page was given before the fix
    page = render(None, "annotate.html", {"user": None, "project": "p", "classes": classes,
                                          "classes_json": json.dumps(classes)})  # fmt: skip
    assert "<script>alert(1)" not in page
    assert page.count("<script") == page.count("</script>")  # nothing closes a script early


def test_pages_carry_security_headers_and_no_inline_script(client):
    import re

    for path in ("/", "/annotate", "/images", "/export", "/login"):
        response = client.admin.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp and response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        for script in re.findall(r"<script([^>]*)>(.*?)</script>", response.text, re.S):
            assert "src=" in script[0] or 'type="application/json"' in script[0], (path, script)
    assert client.admin.get("/api/status").headers["x-content-type-options"] == "nosniff"


def test_cookie_requests_need_a_matching_origin_bearer_calls_do_not(client, server_project):
    _, tokens = server_project
    browser = client.anon
    assert browser.get(f"/login?token={tokens['admin']}", follow_redirects=False).status_code == 303
    assert browser.post("/api/train").status_code == 403
    assert browser.post("/api/train", headers={"Origin": "http://testserver:8001"}).status_code == 403
    assert browser.post("/api/export/imagefolder", headers={"Origin": "http://evil.example"}).status_code == 403
    assert browser.post("/logout", headers={"Origin": "http://evil.example"}).status_code == 403
    assert browser.post("/api/train", headers={"Origin": "http://testserver"}).status_code == 202
    assert browser.post("/api/train", headers={"Referer": "http://testserver/"}).status_code == 202
    forged = client.anon.post("/login", data={"token": tokens["ann"]}, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    assert client.admin.post("/api/train").status_code == 202  # no Origin, but a bearer token
