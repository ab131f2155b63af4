"""Near-duplicate groups in Debian's Chromium (issue 12): the annotate page offers "label the group"
for an image with near-duplicates and labels the group as one batch; the image grid shows a group."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image as PILImage
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.near_duplicates import group_of, set_threshold
from labelwise.store.models import Annotation, Image, LabelClass
from tests.utils.images import photo
from tests.utils.server import launch_chromium, page_server


def write_pairs(root):
    """Four pictures, each with a copy shifted by 2 px: four groups of two."""
    root.mkdir(parents=True)
    for seed in (11, 22, 33, 44):
        picture = np.asarray(photo(seed))
        PILImage.fromarray(picture).save(root / f"p{seed}.png")
        PILImage.fromarray(np.roll(picture, 2, axis=1)).save(root / f"p{seed}-shifted.png")


@pytest.mark.slow
def test_label_the_group_from_the_annotate_page_and_see_a_group_in_the_grid(tmp_path):
    write_pairs(tmp_path / "images")
    with page_server(tmp_path / "proj", tmp_path / "images") as (server, tokens), sync_playwright() as p:
        project = Project(tmp_path / "proj")
        set_threshold(project, 0.96)  # pairs measured at 0.979-0.985, other pictures at most 0.926
        ingest_folder(project)  # groups the pool, as `labelwise add` would while the server runs
        assert len(set(group_of(project).values())) == 4 and len(group_of(project)) == 8
        project.close()
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/login?token={tokens['ann']}")
        page.goto(f"{server.url}/annotate")
        page.wait_for_selector("#current[data-shown]")
        source = page.inner_text("#path")
        expect(page.locator("#label-group")).to_be_visible()
        expect(page.locator("#label-group")).to_contain_text("label the group (2 near-duplicates)")
        page.screenshot(path=str(tmp_path / "annotate-group.png"))  # looked at when the test was written
        page.click("#label-group")
        page.wait_for_url("**/similar?*group=true*")
        expect(page.locator("#batch .thumb.ticked")).to_have_count(1, timeout=60_000)
        # The cosine the group was made on (at least the 0.96 threshold), not the projection's.
        expect(page.locator("#batch .thumb figcaption")).to_have_text(re.compile(r"✔ (9[6-9]|100)% similar"))
        partner = page.locator("#batch .thumb img").first.get_attribute("alt")
        assert partner != source and partner.split("-")[0].removesuffix(".png") == source.split("-")[0].removesuffix(
            ".png"
        )
        page.keyboard.press("4")  # Dress
        page.screenshot(path=str(tmp_path / "label-the-group.png"))
        page.keyboard.press("Enter")
        expect(page.locator("#msg")).to_contain_text("2 labeled Dress")

        page.goto(f"{server.url}/images")
        expect(page.locator("#grid .thumb")).to_have_count(8)
        expect(page.locator("#grid .group-link")).to_have_count(8)  # every picture has its copy
        expect(page.locator("#group-note")).to_be_hidden()
        page.screenshot(path=str(tmp_path / "grid-all.png"))
        page.locator("#grid .thumb", has_text="✔ Dress").first.locator(".group-link").click()
        page.wait_for_url("**/images?group=*")
        expect(page.locator("#grid .thumb")).to_have_count(2)
        expect(page.locator("#grid .thumb.labeled")).to_have_count(2)
        expect(page.locator("#group-note")).to_contain_text("2 image(s)")
        expect(page.locator("#grid .thumb figcaption").first).to_contain_text(source.split("-")[0].removesuffix(".png"))
        page.screenshot(path=str(tmp_path / "grid-group.png"))
        browser.close()
    project = Project(tmp_path / "proj")
    with project.sessions() as session:
        rows = session.execute(
            select(Image.path, Annotation.source, LabelClass.name)
            .join(Annotation, Annotation.image_id == Image.id)
            .join(LabelClass, LabelClass.id == Annotation.class_id)
        ).all()
    project.close()
    assert sorted(r.path for r in rows) == sorted([source, partner])
    assert {(r.source, r.name) for r in rows} == {("batch", "Dress")}
