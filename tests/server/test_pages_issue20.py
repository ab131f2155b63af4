"""The small things of issue 20 (items 9 and 12) over HTTP: plain settings, an HTML refusal of the
export page, the label budget counting the labels there are, the grid's file search and its word
when a sort cannot be given; and the learning curve's axes."""

from __future__ import annotations

import re

from labelwise.server.pages import learning_curve_svg, nice_ticks, plain_number


def train(client) -> None:
    client.app.state.retrainer.train_now()
    assert client.app.state.retrainer.last_error is None


def label_some(client, labels: list[str]) -> list[dict]:
    items = client.ann.post("/api/queue/next", json={"n": len(labels)}).json()["items"]
    for item, label in zip(items, labels, strict=True):
        assert (
            client.ann.post("/api/annotations", json={"image_id": item["image_id"], "label": label}).status_code == 201
        )
    return items


def test_learning_curve_axes_read_quarters_and_the_label_axis_has_ticks():
    points = [{"version": v, "n_labels": n, "accuracy": a, "low": a - 0.1, "high": a + 0.1, "n_audit": 20}
              for v, (n, a) in enumerate([(10, 0.3), (120, 0.6), (262, 0.8)], 1)]  # fmt: skip
    svg = learning_curve_svg(points)
    yticks = re.findall(r'class="ytick">([^<]*)<', svg)
    assert yticks == ["0.00", "0.25", "0.50", "0.75", "1.00"]
    assert re.findall(r'class="xtick">([^<]*)<', svg) == ["0", "50", "100", "150", "200", "250"]
    assert ">accuracy<" in svg and ">labels<" in svg
    assert nice_ticks(0, 6) == [0, 1, 2, 3, 4, 5, 6] and nice_ticks(0, 7) == [0, 2, 4, 6] and nice_ticks(3, 4) == [3, 4]
    assert nice_ticks(1000, 12_000) == [2000, 4000, 6000, 8000, 10_000, 12_000]


def test_settings_show_plain_values(client):
    assert client.admin.put("/api/settings", json={"lease_minutes": 10, "explore": 0.25}).status_code == 200
    page = client.admin.get("/").text
    assert 'name="lease_minutes" type="number" min="0.01" step="any" value="10"' in page
    assert 'value="0.25"' in page
    # "the whole pool" comes with no number beside it (it read "whole pool [1000]").
    candidates = re.search(r'<input name="candidates"[^>]*>', page).group(0)
    assert 'value=""' in candidates and " hidden" in candidates
    assert plain_number(10.0) == "10" and plain_number(0.5) == "0.5" and plain_number(None) == ""


def test_the_settings_history_says_none_not_python_none(client):
    assert client.admin.put("/api/settings", json={"stop_label_budget": 400}).status_code == 200
    page = client.admin.get("/").text
    assert "stop_label_budget: none → 400" in page and "None" not in page


def test_an_annotator_opening_the_export_page_reads_that_it_is_for_admins(client):
    page = client.ann.get("/export")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "is for admins" in page.text and "<html" in page.text
    assert "/api/export?format=csv" in client.admin.get("/export").text


def test_the_label_budget_counts_the_labels_there_are_not_those_of_the_last_model(client):
    assert client.admin.put("/api/settings", json={"stop_label_budget": 3}).status_code == 200
    label_some(client, ["Bag", "Coat"])
    train(client)  # the model knows 2 labels
    label_some(client, ["Bag"])
    status = client.ann.get("/api/status").json()
    budget = next(c for c in status["stopping"] if c["name"] == "label budget")
    assert status["labeled"] == 3
    assert budget["met"] and budget["reason"] == "3 of 3 labels used"


def test_the_grid_searches_file_names_and_says_when_it_cannot_sort_by_score(client):
    found = client.ann.get("/api/images?q=bag/").json()
    assert found["total"] == 20 and all(i["path"].startswith("Bag/") for i in found["items"])
    assert client.ann.get("/api/images?q=%25").json()["total"] == 0  # % is a character, not a wildcard
    assert client.ann.get("/api/images?q=" + "x" * 201).status_code == 422

    no_model = client.ann.get("/api/images?sort=score").json()
    assert "no model" in no_model["notice"]
    label_some(client, ["Bag", "Coat", "Bag", "Coat"])
    train(client)  # auto starts with typiclust: a set strategy, no per-image score
    typical = client.ann.get("/api/images?sort=score").json()
    assert "gives no per-image scores" in typical["notice"] and "typiclust" in typical["notice"]
    assert client.admin.put("/api/settings", json={"strategy": "margin"}).status_code == 200
    train(client)
    scored = client.ann.get("/api/images?sort=score&limit=500").json()
    scores = [i["score"] for i in scored["items"] if i["score"] is not None]
    assert scored["notice"] is None and len(scores) > 100 and scores == sorted(scores, reverse=True)
