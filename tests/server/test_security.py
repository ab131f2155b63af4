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
    config = {"classes": classes, "keys": ["1", "2"], "lease_minutes": 10, "min_look_ms": 150}
    context = {"user": None, "project": "p", "classes": list(zip(classes, "12", strict=True)), "config": config,
               "classes_json": json.dumps(classes)}  # fmt: skip
    page = render(None, "annotate.html", context)
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


def test_huge_ids_are_refused_not_a_server_error(client):
    huge = 2**63
    for response in (
        client.ann.get(f"/api/images/{huge}/file"),
        client.ann.get(f"/api/images/{huge}/thumb"),
        client.ann.delete(f"/api/annotations/{huge}"),
        client.ann.post("/api/skip", json={"image_id": huge}),
        client.ann.post("/api/annotations", json={"image_id": 2**40, "label": "Bag"}),
        client.ann.get("/api/images?offset=-1"),
        client.ann.get("/api/images?limit=-5"),
        client.ann.post("/api/queue/renew", json={"image_ids": [2**70]}),  # found by the fuzzing gate
        client.ann.post("/api/queue/renew", json={"image_ids": [-1]}),
    ):
        assert response.status_code == 422, (response.request.url, response.text)


def test_nan_and_infinity_are_refused_as_settings(client):
    for body in ('{"explore": NaN}', '{"explore": Infinity}', '{"candidates": Infinity}'):
        response = client.admin.put("/api/settings", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, body
    assert client.admin.get("/api/settings").json()["explore"] == 0.0


def test_two_image_folder_exports_in_one_second_get_two_folders(client):
    from unittest import mock

    from labelwise.project import export

    first_image = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]["image_id"]
    client.ann.post("/api/annotations", json={"image_id": first_image, "label": "Bag"})
    frozen = mock.Mock(wraps=export.datetime)
    frozen.now.return_value = export.datetime(2026, 1, 1, 12, 0, 0)
    with mock.patch.object(export, "datetime", frozen):
        a = client.admin.post("/api/export/imagefolder")
        b = client.admin.post("/api/export/imagefolder")
    assert a.status_code == b.status_code == 201
    assert a.json()["folder"] != b.json()["folder"]


def test_concurrent_first_requests_for_one_thumbnail_all_succeed(client):
    import time
    from concurrent.futures import ThreadPoolExecutor
    from unittest import mock

    from PIL import Image

    original = Image.Image.save

    def slow_save(self, *args, **kwargs):  # widens the window between writing and renaming
        original(self, *args, **kwargs)
        time.sleep(0.05)

    image_id = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]["image_id"]
    with mock.patch.object(Image.Image, "save", slow_save), ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: client.ann.get(f"/api/images/{image_id}/thumb").status_code, range(48)))
    assert codes == [200] * 48
    thumbs = client.app.state.project.folder / "thumbs"
    assert [p.name for p in thumbs.iterdir()] == [f"{image_id}.jpg"]  # no temporary file left behind


def test_class_names_that_cannot_be_folder_names_are_refused(client):
    for name in ("a\x00b", "cats/dogs", "..", ".", "back\\slash", "é" * 255):
        response = client.admin.post("/api/classes", json={"name": name})
        assert response.status_code == 422, name
        assert "class name" in response.json()["detail"]
    assert client.admin.post("/api/classes", json={"name": "Hat (summer)"}).status_code == 201


def test_one_person_cannot_hoard_the_queue_even_with_parallel_calls(client):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(12) as pool:
        batches = list(pool.map(lambda _: client.ann.post("/api/queue/next", json={"n": 10}), range(24)))
    assert all(r.status_code == 200 for r in batches)
    held = {i["image_id"] for r in batches for i in r.json()["items"]}
    assert len(held) <= 20  # max_leases_per_user, by default (without the cap: every call 10 new ones)
    assert len(client.ann.post("/api/queue/next", json={"n": 100}).json()["items"]) == 20  # renewed, no more
    assert len(client.bob.post("/api/queue/next", json={"n": 10}).json()["items"]) == 10
    assert client.admin.put("/api/settings", json={"max_leases_per_user": 25}).status_code == 200
    assert len(client.ann.post("/api/queue/next", json={"n": 100}).json()["items"]) == 25


def test_a_symlink_out_of_the_images_folder_is_broken_at_ingest_and_refused_when_served(tmp_path):
    """One rule at ingest and at serving: a file whose real path is outside the images folder."""
    from sqlalchemy import select, update
    from starlette.testclient import TestClient

    from labelwise.project import Project
    from labelwise.project.ingest import ingest_folder
    from labelwise.project.users import add_user
    from labelwise.server.app import create_app
    from labelwise.store.models import STATUS_BROKEN, Image
    from tests.utils.images import photo

    images, outside = tmp_path / "images", tmp_path / "outside"
    (images / "a").mkdir(parents=True)
    (outside / "more").mkdir(parents=True)
    for i in range(3):
        photo(i).save(images / "a" / f"{i}.png")
    photo(10).save(outside / "secret.png")
    photo(11).save(outside / "more" / "x.png")
    (images / "a" / "link.png").symlink_to(outside / "secret.png")
    (images / "linked_folder").symlink_to(outside / "more", target_is_directory=True)
    project = Project.create(tmp_path / "proj", images, backbone="squeezenet")
    project.add_classes(["cat", "dog"])
    ingest_folder(project)
    token = add_user(project, "ann", "annotator")
    with project.sessions() as session:
        rows = {r.path: (r.status, r.reason) for r in session.scalars(select(Image))}
    project.close()
    assert rows["a/link.png"] == (STATUS_BROKEN, "outside the images folder")
    assert rows["linked_folder/"] == (STATUS_BROKEN, "outside the images folder")
    assert not any(path.startswith("linked_folder/x") for path in rows)

    # Serving: the same rule, whatever the record says (a project ingested before the rule).
    app = create_app(tmp_path / "proj", start_worker=False)
    try:
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        with app.state.project.sessions() as session:
            link_id = session.scalars(select(Image.id).where(Image.path == "a/link.png")).one()
            session.execute(update(Image).where(Image.id == link_id).values(status="ok", reason=None))
            session.commit()
        answer = client.get(f"/api/images/{link_id}/file")
        assert answer.status_code == 404 and "outside the images folder" in answer.json()["detail"]
        assert client.get(f"/api/images/{link_id}/thumb").status_code == 404
    finally:
        app.state.retrainer.stop()
        app.state.project.close()
        app.state.retrainer.project.close()


def test_the_csv_export_does_not_let_formulas_through(client):
    import csv
    import io

    names = ["=1+2", "+SUM(A1)", "-2+3", "@cmd"]  # class names are stripped: no leading tab or CR
    for name in names:
        assert client.admin.post("/api/classes", json={"name": name}).status_code == 201, name
    items = client.ann.post("/api/queue/next", json={"n": len(names)}).json()["items"]
    for item, name in zip(items, names, strict=True):
        answer = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": name})
        assert answer.status_code == 201
    rows = list(csv.DictReader(io.StringIO(client.admin.get("/api/export?format=csv").text)))
    assert sorted(r["label"] for r in rows) == sorted("'" + n for n in names)
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r.values())
    # JSON keeps the exact label.
    assert sorted(r["label"] for r in client.admin.get("/api/export?format=json").json()) == sorted(names)


def test_the_schema_documents_the_errors_as_they_are_sent(client):
    schema = client.ann.get("/api/openapi.json").json()
    error = schema["components"]["schemas"]["ErrorResponse"]
    assert error["properties"]["detail"]["type"] == "string"
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for code in ("401", "403", "404", "409", "413", "422"):
                ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (method, path, code)
    sent = client.ann.post("/api/skip", json={"image_id": "x"})
    assert sent.status_code == 422 and isinstance(sent.json()["detail"], str)
