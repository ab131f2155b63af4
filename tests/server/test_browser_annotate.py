"""The annotate page at human speed (issue 20), in Debian's Chromium: no label without a look, typed
class names that pick the class meant, and two people on one image without a silent overwrite."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from labelwise.project import Project
from labelwise.project.export import labeled_rows
from labelwise.project.settings import update_settings
from labelwise.store.models import Image, Lease
from tests.utils.server import launch_chromium, page_server

LOOK = 400  # ms a test waits before a deliberate label: well past the page's 150 ms minimum display time


@pytest.fixture
def server(tmp_path, fashion_folder):
    with page_server(tmp_path / "proj", fashion_folder) as running:  # no retrain: this is about the page alone
        yield running


@pytest.fixture
def browser():
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def open_annotate(browser, server, token: str):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{server.url}/login?token={token}")
    page.goto(f"{server.url}/annotate")
    look(page)
    return page


def look(page):
    """Wait until the image on screen has been painted, then look at it for LOOK ms."""
    page.wait_for_selector("#current[data-shown]")
    page.wait_for_timeout(LOOK)


def rows(server) -> list[dict]:
    project = Project(server.folder)
    try:
        return labeled_rows(project)
    finally:
        project.close()


def test_held_keys_double_taps_and_double_clicks_label_one_image_each(server, browser):
    srv, tokens = server
    page = open_annotate(browser, srv, tokens["ann"])
    for _ in range(6):  # a held key: the browser repeats keydown with repeat=true
        page.keyboard.down("1")
    page.keyboard.up("1")
    page.wait_for_timeout(LOOK)
    expect(page.locator("#done-count")).to_have_text("1")
    page.wait_for_timeout(LOOK)
    page.keyboard.press("2")  # a double tap: the second press lands on an image shown for a few ms
    page.keyboard.press("2")
    expect(page.locator("#msg")).to_contain_text("too fast")
    page.wait_for_timeout(LOOK)
    page.locator("button.cls", has_text="Pullover").dblclick()
    page.wait_for_timeout(LOOK)
    page.keyboard.press("Enter")  # the clicked button must not keep focus and label the next image
    page.wait_for_timeout(LOOK)
    expect(page.locator("#done-count")).to_have_text("3")
    assert sorted(r["label"] for r in rows(srv)) == ["Pullover", "T-shirt-top", "Trouser"]


def test_a_typed_name_picks_the_exact_class_asks_when_ambiguous_and_gives_focus_back(server, browser):
    srv, tokens = server
    page = open_annotate(browser, srv, tokens["ann"])
    page.fill("#filter", "sh")
    page.press("#filter", "Enter")
    expect(page.locator("#msg")).to_contain_text("T-shirt-top")  # names the candidates
    expect(page.locator("#msg")).to_contain_text("Shirt")
    expect(page.locator("#done-count")).to_have_text("0")
    page.fill("#filter", "shirt")
    page.press("#filter", "Enter")
    expect(page.locator("#done-count")).to_have_text("1")
    assert page.evaluate("document.activeElement.id") != "filter"
    expect(page.locator("button.cls:visible")).to_have_count(10)  # the filter is cleared
    page.wait_for_timeout(LOOK)
    page.keyboard.press("0")  # class 10 has a key
    expect(page.locator("#done-count")).to_have_text("2")
    expect(page.locator("button.cls", has_text="Ankle boot").locator("kbd")).to_have_text("0")
    page.wait_for_timeout(LOOK)
    page.keyboard.press("q")  # not a label key: said so
    expect(page.locator("#msg")).to_contain_text("not a key")
    assert sorted(r["label"] for r in rows(srv)) == ["Ankle boot", "Shirt"]


def test_a_label_over_somebody_elses_newer_label_is_refused_and_explained(server, browser):
    srv, tokens = server
    page = open_annotate(browser, srv, tokens["ann"])
    shown = page.locator("#path").inner_text()
    project = Project(srv.folder)
    with project.sessions.begin() as session:
        # Ann's lease ran out while she looked away (the page is not active, so no heartbeat renews it)...
        image_id = session.scalar(select(Image.id).where(Image.path == shown))
        session.get(Lease, image_id).expires_at = datetime(2000, 1, 1, tzinfo=UTC)
    project.close()
    # ...and Bob, handed the image, labeled it.
    bob = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens['bob']}"})
    assert bob.post("/api/annotations", json={"image_id": image_id, "label": "Bag"}).status_code == 201
    page.keyboard.press("1")
    expect(page.locator("#msg")).to_contain_text("bob")
    expect(page.locator("#msg")).to_have_class("error")
    assert [(r["label"], r["annotator"]) for r in rows(srv)] == [("Bag", "bob")]


def test_z_undoes_the_last_label_after_a_reload(server, browser):
    srv, tokens = server
    page = open_annotate(browser, srv, tokens["ann"])
    page.keyboard.press("1")
    expect(page.locator("#done-count")).to_have_text("1")
    first = rows(srv)[0]["path"]
    page.reload()
    look(page)
    page.keyboard.press("z")
    expect(page.locator("#msg")).to_contain_text(f"undone: {first}")
    expect(page.locator("#path")).to_have_text(first)  # back on screen, to label again
    assert rows(srv) == []


def test_annotate_shows_the_models_state_the_strategy_now_and_a_met_stopping_criterion(server, browser):
    srv, tokens = server
    project = Project(srv.folder)
    update_settings(project, {"strategy": "margin", "stop_label_budget": 1}, "test")
    project.close()
    page = open_annotate(browser, srv, tokens["ann"])
    expect(page.locator("#model-state")).to_contain_text("No model yet")
    expect(page.locator("#model-state")).to_contain_text("strategy now: margin")
    page.keyboard.press("1")
    expect(page.locator("#model-state")).to_contain_text("stopping criterion met", timeout=15_000)
