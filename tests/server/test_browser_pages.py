"""Work that must not disappear (issue 20, items 5, 8 and 10), in Debian's Chromium: an admin's unsaved
settings survive the dashboard's refresh, an ended session returns to the page the person was on, and
long class names wrap instead of pushing the buttons off screen."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.server.test_browser import ARTIFACTS
from tests.utils.server import launch_chromium, page_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fashion_folder):
    with page_server(tmp_path_factory.mktemp("pages") / "proj", fashion_folder) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def api(server, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def test_the_dashboard_refresh_keeps_what_an_admin_is_typing(server, browser):
    srv, tokens = server
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{srv.url}/login?token={tokens['admin']}")
    page.fill("input[name=retrain_every]", "77")
    page.locator("h2", has_text="Progress").click()  # the field loses focus, the edit is not saved yet
    bob = api(srv, tokens["bob"])
    item = bob.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    assert bob.post("/api/annotations", json={"image_id": item["image_id"], "label": "Bag"}).status_code == 201
    page.wait_for_timeout(6500)  # past the 5 s refresh, which sees a new label count
    expect(page.locator("input[name=retrain_every]")).to_have_value("77")


def test_after_the_session_ends_a_key_press_says_so_and_login_returns_to_annotate(server, browser):
    srv, tokens = server
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(f"{srv.url}/login?token={tokens['ann']}")
    page.goto(f"{srv.url}/annotate")
    expect(page.locator("#current")).to_be_visible()
    page.wait_for_timeout(400)
    context.clear_cookies()
    page.keyboard.press("1")
    expect(page.locator("#session-ended")).to_contain_text("/annotate")
    page.fill("#token", tokens["ann"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{srv.url}/annotate")
    expect(page.locator("#current")).to_be_visible()
    context.close()


def test_a_long_class_name_wraps_and_every_class_button_stays_on_screen(server, browser):
    srv, tokens = server
    assert api(srv, tokens["admin"]).post("/api/classes", json={"name": "X" * 255}).status_code in (200, 201)
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1024, 1920):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(f"{srv.url}/login?token={tokens['admin']}")
        for path in ("/annotate", "/images", "/"):
            page.goto(srv.url + path)
            page.wait_for_load_state("load")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
        page.goto(srv.url + "/annotate")
        expect(page.locator("#current")).to_be_visible()
        page.screenshot(path=ARTIFACTS / f"annotate-long-class-{width}.png", full_page=True)
        for box in (b.bounding_box() for b in page.locator("button.cls").all()):
            assert box["x"] + box["width"] <= width
        page.close()


def test_the_grid_drops_answers_to_superseded_filters_and_the_dialog_scales_the_image_up(server, browser):
    srv, tokens = server
    bob = api(srv, tokens["bob"])
    for item in bob.post("/api/queue/next", json={"n": 3}).json()["items"]:
        assert bob.post("/api/annotations", json={"image_id": item["image_id"], "label": "Coat"}).status_code == 201
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{srv.url}/login?token={tokens['ann']}")
    page.goto(f"{srv.url}/images")
    expect(page.locator(".thumb").first).to_be_visible()
    held = []  # the answer for "unlabeled" comes late, after the one for "labeled"
    page.route("**/api/images?*", lambda route: held.append(route) if "labeled=false" in route.request.url
               else route.continue_())  # fmt: skip
    page.focus("select[name=view]")
    page.keyboard.press("ArrowDown")  # unlabeled
    page.keyboard.press("ArrowDown")  # labeled
    page.wait_for_timeout(1000)
    assert held, "the unlabeled request was made"
    for route in held:
        route.continue_()
    page.wait_for_timeout(1500)
    total = int(page.locator("#total").inner_text().split()[0])
    assert total >= 3
    expect(page.locator(".thumb")).to_have_count(total)
    expect(page.locator(".thumb:not(.labeled)")).to_have_count(0)
    page.unroute("**/api/images?*")
    page.locator(".thumb").first.click()
    expect(page.locator("#relabel-guess")).to_contain_text("labeled")
    assert page.locator("#relabel-img").bounding_box()["width"] >= 200
    page.screenshot(path=ARTIFACTS / "images-relabel-1280.png")
