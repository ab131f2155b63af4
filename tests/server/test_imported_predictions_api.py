"""The user's own model's predictions, imported, pre-select on the annotate queue (no project model
needed) and show in the image grid."""

from __future__ import annotations

from labelwise.project.predictions import import_predictions


def test_imported_predictions_preselect_in_the_queue_and_show_in_the_grid(client, tmp_path):
    project = client.app.state.project
    paths = [i["path"] for i in client.ann.get("/api/images?limit=500").json()["items"]]
    # The true class for every image, sure for even positions and unsure for odd ones.
    probability = {path: 0.9 if n % 2 == 0 else 0.3 for n, path in enumerate(paths)}
    rows = [f"{path},{path.split('/')[0]},{probability[path]}" for path in paths]
    (tmp_path / "p.csv").write_text("path,class,probability\n" + "\n".join(rows) + "\n")
    assert import_predictions(project, tmp_path / "p.csv").imported == len(paths) == 200
    items = client.ann.post("/api/queue/next", json={"n": 20}).json()["items"]
    assert [i["preselected"] for i in items] == [
        i["path"].split("/")[0] if probability[i["path"]] >= 0.6 else None for i in items
    ]
    assert any(i["preselected"] for i in items) and not all(i["preselected"] for i in items)
    grid = {i["path"]: i for i in client.ann.get("/api/images?limit=500").json()["items"]}
    assert all(grid[p]["imported_predicted"] == p.split("/")[0] for p in paths)
    assert all(grid[p]["imported_probability"] == probability[p] for p in paths)
    assert client.admin.put("/api/settings", json={"preselect_threshold": None}).status_code == 200
    assert {i["preselected"] for i in client.bob.post("/api/queue/next", json={"n": 10}).json()["items"]} == {None}
