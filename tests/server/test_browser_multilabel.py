"""The annotate page of a multi-label project in Debian's Chromium: the number keys toggle classes
(visibly), Enter submits the set, an empty set is a visible "none" and is saved as such, and a held
Enter submits one image, not several."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from labelwise.project import Project
from labelwise.project.multilabel_labels import current_label_sets
from tests.utils.server import launch_chromium, page_server

LOOK = 400  # ms: well past the page's 150 ms minimum display time


@pytest.fixture
def server(tmp_path, fashion_folder):
    with page_server(tmp_path / "proj", fashion_folder, multi_label=True) as running:
        yield running


def label_sets(server) -> dict[int, list[str]]:
    project = Project(server.folder)
    try:
        names = project.class_names()
        with project.sessions() as session:
            return {i: [names[p] for p in s] for i, s in current_label_sets(session).items()}
    finally:
        project.close()


def look(page):
    page.wait_for_selector("#current[data-shown]")
    page.wait_for_timeout(LOOK)


def test_keys_toggle_classes_enter_submits_the_set_and_a_held_enter_submits_once(server, tmp_path):
    srv, tokens = server
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{srv.url}/login?token={tokens['ann']}")
        page.goto(f"{srv.url}/annotate")
        look(page)
        expect(page.locator("#chosen")).to_contain_text("none of the classes")  # the visible "none" state
        page.keyboard.press("2")  # Trouser on
        page.keyboard.press("6")  # Sandal on
        page.keyboard.press("4")  # Dress on ...
        page.keyboard.press("4")  # ... and off again
        expect(page.locator("button.cls.on")).to_have_count(2)
        expect(page.locator("button.cls", has_text="Trouser")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#chosen")).to_contain_text("Trouser, Sandal")
        expect(page.locator("#done-count")).to_have_text("0")  # a toggle saves nothing
        page.screenshot(path=str(tmp_path / "multilabel-annotate.png"))  # looked at when the test was written
        page.keyboard.press("Enter")
        expect(page.locator("#done-count")).to_have_text("1")
        look(page)
        expect(page.locator("button.cls.on")).to_have_count(0)  # the next image starts with none on
        for _ in range(6):  # a held Enter: keydown repeats with repeat=true
            page.keyboard.down("Enter")
        page.keyboard.up("Enter")
        page.wait_for_timeout(2 * LOOK)
        expect(page.locator("#done-count")).to_have_text("2")
        browser.close()
    saved = label_sets(srv)
    assert sorted(saved.values()) == [[], ["Trouser", "Sandal"]]


def test_the_images_page_dialog_corrects_a_set_with_checkboxes(server, tmp_path):
    from sqlalchemy import select

    from labelwise.project.multilabel_labels import label_image_set
    from labelwise.store.models import Image

    srv, tokens = server
    project = Project(srv.folder)
    with project.sessions() as session:
        path = session.scalar(select(Image.path).order_by(Image.path).limit(1))
    label_image_set(project, path, ["Bag"])
    project.close()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{srv.url}/login?token={tokens['ann']}")
        page.goto(f"{srv.url}/images")
        # Wait for the labeled view's grid: a card of the first grid (the same image, also "✔ Bag") is
        # replaced when the second arrives, and a dialog opened from it would update a detached card.
        with page.expect_response(lambda r: "labeled=true" in r.url):
            page.select_option("select[name=view]", "labeled")
        page.wait_for_load_state("networkidle")
        card = page.locator(".thumb").first
        expect(card.locator("figcaption")).to_have_text("✔ Bag")
        card.click()
        expect(page.locator("#relabel-set input[value=Bag]")).to_be_checked()  # ticked from the image's set
        page.check("#relabel-set input[value=Sandal]")
        page.uncheck("#relabel-set input[value=Bag]")
        page.check("#relabel-set input[value=Coat]")
        page.screenshot(path=str(tmp_path / "multilabel-relabel.png"))
        page.click("#relabel button[value=save]")
        expect(card.locator("figcaption")).to_have_text("✔ Coat; Sandal")
        browser.close()
    saved = label_sets(srv)
    assert list(saved.values()) == [["Coat", "Sandal"]]
