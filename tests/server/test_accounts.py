"""Accounts: labels are owned by account id, undo keeps history, users can be listed, disabled and rotated."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app as cli
from labelwise.project.labels import label_image
from labelwise.project.users import add_user
from labelwise.store.models import Annotation

runner = CliRunner()


def as_user(client, token: str) -> TestClient:
    return TestClient(client.app, headers={"Authorization": f"Bearer {token}"})


def test_a_user_named_cli_or_import_cannot_undo_command_line_or_imported_labels(client):
    project = client.app.state.project
    images = client.admin.get("/api/images?limit=2").json()
    paths = [i["path"] for i in images["items"]] if isinstance(images, dict) else [i["path"] for i in images]
    label_image(project, paths[0], "Bag")  # recorded as annotator "cli", no account
    with project.sessions() as session:
        labeled = session.scalars(select(Annotation)).one()
    assert labeled.annotator == "cli" and labeled.user_id is None
    impostor = as_user(client, add_user(project, "cli", "annotator"))
    assert impostor.delete(f"/api/annotations/{labeled.id}").status_code == 403
    # Their own labels they may undo; an admin may undo anyone's.
    assert client.admin.delete(f"/api/annotations/{labeled.id}").status_code == 200


def test_undo_keeps_the_label_for_audit_and_everything_else_ignores_it(client, server_project):
    item = client.ann.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    first = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": "Bag"}).json()
    second = client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": "Coat"}).json()
    assert client.ann.delete(f"/api/annotations/{second['id']}").status_code == 200
    project = client.app.state.project
    with project.sessions() as session:
        undone = session.get(Annotation, second["id"])
        assert undone is not None and undone.deleted_at is not None and undone.superseded
        assert undone.deleted_by == undone.user_id
    assert [r["label"] for r in client.admin.get("/api/export?format=json").json()] == ["Bag"]
    # Undoing it again is refused, and undoing the first brings back nothing undone.
    assert client.ann.delete(f"/api/annotations/{second['id']}").status_code == 404
    assert client.ann.delete(f"/api/annotations/{first['id']}").status_code == 200
    assert client.admin.get("/api/export?format=json").json() == []


def test_users_list_disable_and_rotate(client, server_project):
    folder, tokens = server_project
    listed = runner.invoke(cli, ["users", "list", str(folder)])
    assert listed.exit_code == 0, listed.output
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()] == [
        ["ada", "admin"], ["ann", "annotator"], ["bob", "annotator"]
    ]  # fmt: skip
    assert "token" not in listed.stdout and tokens["ann"] not in listed.stdout

    assert client.bob.get("/api/status").status_code == 200
    disabled = runner.invoke(cli, ["users", "disable", str(folder), "bob"])
    assert disabled.exit_code == 0, disabled.output
    assert client.bob.get("/api/status").status_code == 401
    assert "bob\tannotator" in runner.invoke(cli, ["users", "list", str(folder)]).stdout
    assert runner.invoke(cli, ["users", "list", str(folder)]).stdout.splitlines()[2].endswith("disabled")

    rotated = runner.invoke(cli, ["users", "rotate", str(folder), "ann"])
    assert rotated.exit_code == 0, rotated.output
    new_token = rotated.stdout.strip()
    assert new_token and new_token != tokens["ann"]
    assert client.ann.get("/api/status").status_code == 401
    assert as_user(client, new_token).get("/api/status").status_code == 200

    missing = runner.invoke(cli, ["users", "disable", str(folder), "nobody"])
    assert missing.exit_code != 0 and "nobody" in missing.output and "Traceback" not in missing.output
