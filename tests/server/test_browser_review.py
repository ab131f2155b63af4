"""The review page in Debian's Chromium (issue 13): an admin sees the labels most likely wrong,
changes one and keeps another, and the history says who did what, from which label."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.server.test_browser import ARTIFACTS
from tests.utils.server import launch_chromium, page_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fashion_folder):
    with page_server(tmp_path_factory.mktemp("review") / "proj", fashion_folder) as running:
        yield running


def test_an_admin_changes_and_keeps_labels_on_the_review_page(server):
    srv, tokens = server
    ann = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens['ann']}"}, timeout=60)
    items = ann.post("/api/queue/next", json={"n": 24}).json()["items"]
    for item in items:  # the folder names the true class; one Trouser is called a Bag
        label = item["path"].split("/")[0]
        label = "Bag" if label == "Trouser" else label
        assert ann.post("/api/annotations", json={"image_id": item["image_id"], "label": label}).status_code == 201
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{srv.url}/login?token={tokens['admin']}")
        page.click("nav a[href='/review']")
        rows = page.locator("#suspects tbody tr")
        expect(rows.first).to_be_visible(timeout=60_000)
        expect(page.locator("#review-summary")).to_contain_text("labels flagged")
        first, second = rows.nth(0), rows.nth(1)
        old = first.locator("td").nth(2).inner_text().split(" (")[0]
        target = next(c for c in ("Coat", "Sandal") if c != old)
        first.locator("select").select_option(target)
        first.locator("button.change").click()
        expect(first.locator("td").last).to_have_text(f"changed to {target}")
        second.locator("button.confirm").click()
        expect(second.locator("td").last).to_have_text("confirmed")
        history = page.locator("#review-history tbody tr")
        expect(history).to_have_count(2)
        expect(history.nth(1)).to_contain_text(f"{old} → {target}")
        expect(history.nth(1)).to_contain_text("ada")
        expect(history.nth(0)).to_contain_text("kept")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review-page.png"), full_page=True)
        browser.close()
    admin = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=60)
    reviews = admin.get("/api/review/history").json()["reviews"]
    assert [r["action"] for r in reviews] == ["confirm", "change"] and reviews[1]["to"] == target
