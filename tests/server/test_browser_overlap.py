"""Overlap in Debian's Chromium (issue 13): two people label the same images; the dashboard's agreement
card shows Cohen's kappa, the images it rests on and each person's agreement; the tie is decided on
the review page and the card follows."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.server.test_browser import ARTIFACTS
from tests.utils.server import launch_chromium, page_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fashion_folder):
    with page_server(tmp_path_factory.mktemp("overlap") / "proj", fashion_folder) as running:
        yield running


def test_the_agreement_card_and_a_dispute_decided_on_the_review_page(server):
    srv, tokens = server
    people = {who: httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=60)
              for who in ("admin", "ann", "bob")}  # fmt: skip
    assert people["admin"].put("/api/settings", json={"overlap": 1.0}).status_code == 200
    items = people["ann"].post("/api/queue/next", json={"n": 6}).json()["items"]
    truth = {i["image_id"]: i["path"].split("/")[0] for i in items}
    for image_id, label in truth.items():
        body = {"image_id": image_id, "label": label, "queued": True}
        assert people["ann"].post("/api/annotations", json=body).status_code == 201
    served = people["bob"].post("/api/queue/next", json={"n": 6}).json()["items"]
    assert {i["image_id"] for i in served} == set(truth)
    disputed_id = min(truth)
    other = next(c for c in ("Coat", "Sandal") if c != truth[disputed_id])
    for image_id, label in truth.items():
        body = {"image_id": image_id, "label": other if image_id == disputed_id else label, "queued": True}
        assert people["bob"].post("/api/annotations", json=body).status_code == 201
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{srv.url}/login?token={tokens['admin']}")
        card = page.locator("#agreement")
        expect(card).to_contain_text("Cohen's κ = ")
        expect(page.locator("#kappa-images")).to_have_text("6")
        rows = page.locator("#annotator-agreement tr")
        expect(rows).to_have_count(3)  # a header and two people
        expect(rows.nth(1)).to_contain_text("83.3%")
        expect(page.locator("#disputed")).to_contain_text("1 disputed")
        expect(page.locator("input[name=overlap]")).to_have_value("1")
        ARTIFACTS.mkdir(exist_ok=True)
        card.screenshot(path=str(ARTIFACTS / "dashboard-agreement.png"))
        page.click("#disputed a[href='/review']")
        dispute = page.locator("#disputed tbody tr")
        expect(dispute).to_have_count(1)
        expect(dispute.first).to_contain_text(f"ann: {truth[disputed_id]}")
        expect(dispute.first).to_contain_text(f"bob: {other}")
        dispute.first.locator("button", has_text=f"Make it {other}").click()
        expect(dispute.first.locator("td").last).to_have_text(f"changed to {other}")
        expect(page.locator("#review-history tbody tr").first).to_contain_text(f"{truth[disputed_id]} → {other}")
        page.screenshot(path=str(ARTIFACTS / "review-disputed.png"), full_page=True)
        page.goto(f"{srv.url}/")
        expect(page.locator("#disputed")).to_contain_text("0 disputed")
        browser.close()
