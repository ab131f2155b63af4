"""Label similar in Debian's Chromium (issue 12): from the annotate page, the current image's nearest
unlabeled neighbours come pre-ticked; unticked ones stay unlabeled, Enter labels the rest as a batch."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from labelwise.project import Project
from labelwise.store.models import Annotation, Image, LabelClass
from tests.utils.server import launch_chromium, page_server


@pytest.mark.slow
def test_label_similar_labels_the_ticked_neighbours_and_the_image_as_one_batch(tmp_path, fashion_folder):
    with page_server(tmp_path / "proj", fashion_folder) as (server, tokens), sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/login?token={tokens['ann']}")
        page.goto(f"{server.url}/annotate")
        page.wait_for_selector("#current[data-shown]")
        source = page.inner_text("#path")
        page.click("#label-similar")
        page.wait_for_url("**/similar?*")
        # The server's first search loads the pool (and scikit-learn): seconds on a busy machine.
        expect(page.locator("#batch .thumb.ticked")).to_have_count(48, timeout=60_000)
        page.keyboard.press("Enter")  # no class known yet: refused, nothing labeled
        expect(page.locator("#msg")).to_contain_text("choose the class first")
        page.keyboard.press("4")  # Dress
        cards = page.locator("#batch .thumb")
        unticked = [cards.nth(i).get_attribute("data-image-id") for i in (0, 5)]
        cards.nth(0).click()
        cards.nth(5).click()
        expect(page.locator("#batch .thumb.ticked")).to_have_count(46)
        page.screenshot(path=str(tmp_path / "label-similar.png"))  # looked at when the test was written
        page.keyboard.press("Enter")
        expect(page.locator("#msg")).to_contain_text("47 labeled Dress")
        expect(page.locator("#source-path")).to_contain_text("labeled Dress")
        browser.close()
    project = Project(tmp_path / "proj")
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.path, Annotation.source, LabelClass.name)
            .join(Annotation, Annotation.image_id == Image.id)
            .join(LabelClass, LabelClass.id == Annotation.class_id)
        ).all()
    project.close()
    assert len(rows) == 47 and {(r.source, r.name) for r in rows} == {("batch", "Dress")}
    assert source in {r.path for r in rows}
    assert not {str(r.id) for r in rows} & set(unticked)
