"""Classes fixed from the dashboard and the grid's search (issue 20, items 9, 11 and 12), in Debian's
Chromium: an admin renames, merges and retires classes; annotators see the new names and no retired
class; the grid finds files by name and says when it cannot sort by score."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.utils.server import launch_chromium, page_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fashion_folder):
    with page_server(tmp_path_factory.mktemp("classes") / "proj", fashion_folder) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


def change_class(page, name: str, action: str, to: str = "") -> None:
    page.select_option("#class-admin select[name=name]", name)
    page.select_option("#class-admin select[name=action]", action)
    page.fill("#class-admin input[name=to]", to)
    with page.expect_navigation():  # the page reloads once the change is saved
        page.click("#class-admin button[type=submit]")


def test_an_admin_renames_merges_and_retires_classes_and_annotators_see_it(server, browser):
    srv, tokens = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{srv.url}/login?token={tokens['admin']}")
    page.select_option("#class-admin select[name=action]", "rename")
    page.click("#class-admin button[type=submit]")  # no new name typed: said so, nothing sent
    expect(page.locator("#class-msg")).to_contain_text("type the new name")
    change_class(page, "Coat", "rename", "Jacket")
    change_class(page, "Shirt", "merge", "T-shirt-top")
    change_class(page, "Bag", "retire")
    page.select_option("#class-admin select[name=name]", "Dress")
    page.select_option("#class-admin select[name=action]", "rename")
    page.fill("#class-admin input[name=to]", "Sandal")
    page.click("#class-admin button[type=submit]")
    expect(page.locator("#class-msg")).to_contain_text("exists already")  # the server's refusal, shown
    classes = page.locator("table.classes").inner_text()
    assert "Jacket" in classes and "Coat" not in classes
    expect(page.locator("table.classes tr.retired")).to_have_count(2)  # Shirt and Bag, still listed
    history = page.locator("#class-history").inner_text()
    assert "rename Coat → Jacket" in history and "merge Shirt → T-shirt-top" in history and "retire Bag" in history

    ann = browser.new_page(viewport={"width": 1280, "height": 900})
    ann.goto(f"{srv.url}/login?token={tokens['ann']}")
    expect(ann.locator("#class-admin")).to_have_count(0)  # annotators do not change classes
    ann.goto(f"{srv.url}/annotate")
    names = [b.get_attribute("data-class") for b in ann.locator("button.cls").all()]
    assert "Jacket" in names and "Bag" not in names and "Shirt" not in names and len(names) == 8
    page.close()
    ann.close()


def test_the_grid_searches_by_file_name_and_says_when_it_cannot_sort_by_score(server, browser):
    srv, tokens = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{srv.url}/login?token={tokens['ann']}")
    page.goto(f"{srv.url}/images")
    expect(page.locator(".thumb").first).to_be_visible()
    page.fill("input[name=q]", "sandal/")
    expect(page.locator("#total")).to_have_text("20 images")
    expect(page.locator(".thumb")).to_have_count(20)
    assert all(alt.startswith("Sandal/") for alt in page.locator(".thumb img").evaluate_all("i => i.map(x => x.alt)"))
    expect(page.locator("#notice")).to_be_hidden()
    page.select_option("select[name=sort]", "score")
    expect(page.locator("#notice")).to_be_visible()
    expect(page.locator("#notice")).to_contain_text("no model has ranked the images yet")
    page.close()


def test_the_settings_form_shows_a_sample_size_only_when_a_sample_is_ranked(server, browser):
    srv, tokens = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{srv.url}/login?token={tokens['admin']}")
    expect(page.locator("input[name=candidates]")).to_be_hidden()
    expect(page.locator("input[name=lease_minutes]")).to_have_value("10")
    page.select_option("select[name=candidates_mode]", "n")
    expect(page.locator("input[name=candidates]")).to_have_value("1000")
    expect(page.locator("input[name=candidates]")).to_be_visible()
    page.close()


def test_the_relabel_dialog_preselects_nothing_for_a_label_of_a_retired_class(server, browser):
    srv, tokens = server
    admin = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens['admin']}"})
    bob = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens['bob']}"})
    assert admin.post("/api/classes", json={"name": "Mitten"}).status_code == 201
    item = bob.post("/api/queue/next", json={"n": 1}).json()["items"][0]
    assert bob.post("/api/annotations", json={"image_id": item["image_id"], "label": "Mitten"}).status_code == 201
    assert admin.post("/api/classes/Mitten/retire").status_code == 200
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{srv.url}/login?token={tokens['ann']}")
    page.goto(f"{srv.url}/images")
    page.fill("input[name=q]", item["path"])
    expect(page.locator("#total")).to_have_text("1 images")
    expect(page.locator(".thumb figcaption")).to_have_text("✔ Mitten")  # the old label stays visible
    page.locator(".thumb").click()
    expect(page.locator("#relabel-guess")).to_have_text("labeled Mitten")
    assert page.locator("#relabel-class").evaluate("s => s.selectedIndex") == -1  # not silently the first class
    page.close()


def test_show_more_pages_through_every_image_once_with_the_servers_cursor(server, browser):
    srv, tokens = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{srv.url}/login?token={tokens['ann']}")
    page.goto(f"{srv.url}/images")
    expect(page.locator("#total")).to_have_text("200 images")
    expect(page.locator(".thumb")).to_have_count(60)
    for shown in (120, 180, 200):
        page.click("#more")
        expect(page.locator(".thumb")).to_have_count(shown)
    expect(page.locator("#more")).to_be_hidden()
    paths = page.locator(".thumb img").evaluate_all("i => i.map(x => x.alt)")
    assert len(set(paths)) == 200 and paths == sorted(paths)  # each once, in path order
    page.close()
