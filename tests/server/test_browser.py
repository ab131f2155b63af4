"""A person in a real browser (Debian Chromium driven by Playwright): log in, label 15 images with
the keyboard, see a new model version, change the strategy, export. Screenshots are kept in
``test-artifacts/`` for people to look at."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from labelwise.project import Project
from labelwise.project.settings import update_settings
from tests.utils.server import CHROMIUM, CHROMIUM_ARGS, ServerProcess, make_project

ARGS = CHROMIUM_ARGS  # the name the other browser tests import
ARTIFACTS = Path(os.environ.get("LABELWISE_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


@pytest.fixture
def running_server(tmp_path, fashion_folder):
    project, tokens = make_project(tmp_path / "proj", fashion_folder)
    update_settings(project, {"retrain_every": 10}, "test")
    project.close()
    server = ServerProcess(tmp_path / "proj")
    server.start()
    yield server, tokens
    server.stop()


def test_label_fifteen_images_with_the_keyboard_then_retrain_change_strategy_and_export(running_server):
    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium"
    server, tokens = running_server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860}, accept_downloads=True)
        page.goto(f"{server.url}/login?token={tokens['admin']}")
        expect(page.locator("h2", has_text="Progress")).to_be_visible()
        deadline = time.monotonic() + 60
        while "version 1" not in page.locator("#model-version").inner_text() and time.monotonic() < deadline:
            page.wait_for_timeout(500)
            page.reload()
        page.screenshot(path=ARTIFACTS / "1-dashboard-before.png", full_page=True)

        page.goto(f"{server.url}/annotate")
        expect(page.locator("#current")).to_be_visible()
        expect(page.locator("#why")).to_contain_text("strategy")
        page.screenshot(path=ARTIFACTS / "2-annotate.png")
        for i in range(15):
            expect(page.locator("#current")).to_be_visible()
            page.wait_for_timeout(200)  # a person's look: the page ignores keys in an image's first 150 ms
            page.keyboard.press(str(i % 9 + 1))
            expect(page.locator("#done-count")).to_have_text(str(i + 1), timeout=15_000)
        page.keyboard.press("z")  # undo the last one, then label it again
        expect(page.locator("#done-count")).to_have_text("14")
        page.wait_for_timeout(200)
        page.keyboard.press("2")
        expect(page.locator("#done-count")).to_have_text("15")
        page.screenshot(path=ARTIFACTS / "3-annotate-after-15.png")

        page.goto(f"{server.url}/")
        deadline = time.monotonic() + 90
        while "version 1" in page.locator("#model-version").inner_text() and time.monotonic() < deadline:
            page.wait_for_timeout(1000)
            page.reload()
        expect(page.locator("#model-version")).not_to_have_text("version 1")
        expect(page.locator("#labeled-count")).to_have_text("15")
        expect(page.locator("#serving-head")).to_contain_text("auto: ")  # which head auto chose, and why
        page.screenshot(path=ARTIFACTS / "4-dashboard-new-model.png", full_page=True)

        page.select_option("select[name=strategy]", "margin")
        page.select_option("select[name=head]", "label-spreading")
        page.click("#settings button[type=submit]")
        expect(page.locator("#settings-msg")).to_have_text("saved")
        page.wait_for_load_state("load")
        settings = httpx.get(server.url + "/api/settings", headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert settings.json()["strategy"] == "margin" and settings.json()["head"] == "label-spreading"

        page.goto(f"{server.url}/images")
        expect(page.locator(".thumb").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "5-images.png")

        page.goto(f"{server.url}/export")
        with page.expect_download() as download:
            page.click("text=CSV")
        lines = Path(download.value.path()).read_text().strip().splitlines()
        assert lines[0].startswith("path,label,annotator") and len(lines) == 16
        page.screenshot(path=ARTIFACTS / "6-export.png")
        browser.close()
    # The audit trail: every label says which model version and strategy suggested it.
    project = Project(server.folder)
    from labelwise.project.export import labeled_rows

    rows = labeled_rows(project)
    project.close()
    assert len(rows) == 15 and all(r["model_version"] and r["strategy"] and r["annotator"] == "ada" for r in rows)
