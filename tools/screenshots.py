"""Screenshots of every page at 1024 and 1920 px wide into docs/img/ (issue 20), to be looked at.

Builds a small project of real Fashion-MNIST files, labels 150 of them through the queue as an
annotator would (the audit picks give the learning curve its points), retrains a few times, then
photographs each page in Debian's Chromium. About two minutes.

    python tools/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))
from playwright.sync_api import sync_playwright

from labelwise.project.settings import update_settings
from tests.server.test_browser import ARGS, CHROMIUM
from tests.utils.images import write_fashion_folder
from tests.utils.server import ServerProcess, make_project

WIDTHS = (1024, 1920)


def label_through_the_queue(server: ServerProcess, tokens: dict[str, str], n: int, retrain_every: int) -> None:
    """An annotator labels ``n`` images with their folder's class; an admin retrains every ``retrain_every``."""
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['bob']}"}, timeout=60)
    admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=60)
    done = 0
    while done < n:
        items = client.post("/api/queue/next", json={"n": 10}).json()["items"]
        if not items:
            break
        rounds = done // retrain_every
        for item in items[: n - done]:
            folder = item["path"].split("/", 1)[0]
            label = "T-shirt-top" if folder.startswith("T-shirt") else folder
            client.post("/api/annotations", json={"image_id": item["image_id"], "label": label, "queued": True})
            done += 1
        if done // retrain_every > rounds:
            wait_for_retrain(admin)


def wait_for_retrain(client: httpx.Client) -> None:
    before = (client.get("/api/status").json().get("model") or {}).get("version")
    if client.post("/api/train").status_code != 202:
        raise SystemExit("POST /api/train was refused")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get("/api/status").json()
        if (status.get("model") or {}).get("version") != before and not status["training"]:
            return
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "img")
    parser.add_argument("--labels", type=int, default=150)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        images = write_fashion_folder(Path(tmp) / "images", per_class=40)
        folder = Path(tmp) / "proj"
        project, tokens = make_project(folder, images)
        update_settings(project, {"retrain_every": 1000, "stop_label_budget": 400, "audit_fraction": 0.3}, "docs")
        project.close()
        server = ServerProcess(folder)
        server.start()
        try:
            label_through_the_queue(server, tokens, args.labels, retrain_every=30)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for width in WIDTHS:
                    shoot(browser, server, tokens, width, args.out)
                browser.close()
        finally:
            server.stop()
    print(f"screenshots in {args.out}")


def shoot(browser, server: ServerProcess, tokens: dict[str, str], width: int, out: Path) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{server.url}/login")
    page.screenshot(path=out / f"login-{width}.png")
    page.goto(f"{server.url}/login?token={tokens['admin']}")
    page.wait_for_load_state("load")
    page.screenshot(path=out / f"dashboard-{width}.png", full_page=True)
    page.goto(f"{server.url}/annotate")
    page.wait_for_selector("#current[data-shown]")
    page.wait_for_timeout(600)
    page.screenshot(path=out / f"annotate-{width}.png")
    page.goto(f"{server.url}/images")
    page.wait_for_selector(".thumb img")
    page.wait_for_timeout(800)
    page.screenshot(path=out / f"images-{width}.png")
    page.fill("input[name=q]", "bag/")
    page.select_option("select[name=sort]", "score")
    page.wait_for_timeout(800)
    page.locator(".thumb").first.click()
    page.wait_for_timeout(400)
    page.screenshot(path=out / f"images-search-relabel-{width}.png")
    page.goto(f"{server.url}/export")
    page.screenshot(path=out / f"export-{width}.png")
    page.close()
    annotator = browser.new_page(viewport={"width": width, "height": 900})
    annotator.goto(f"{server.url}/login?token={tokens['ann']}")
    annotator.goto(f"{server.url}/export")
    annotator.screenshot(path=out / f"export-annotator-{width}.png")
    annotator.close()


if __name__ == "__main__":
    main()
