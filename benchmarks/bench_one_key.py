"""One-key accept (issue 12, "Measure"): a scripted annotator in Debian's Chromium labels 200 Fashion-MNIST
images on the annotate page after 200 true labels, with pre-selection on and, on an identical project,
off (the baseline, same run, same served queue).

The annotator knows every image's true class (its folder): it presses Enter when the page pre-selected
that class, else the class's number key (``tests/server/scripted_annotator.py``). Each mode gets its own
copy of the project (200 true labels, 20 per class, one model trained on them, ``retrain_every`` 1000 so
the served ranking stays that model's), so both label the same images in the same order. Reported:
keystrokes per label, images shown pre-selected, share of labels accepted with Enter, overrides, and
the script's seconds per label (the page and server's own pace, not a person's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import select

# The scripted annotator and the served project live with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table

from labelwise.project import Project
from labelwise.project.settings import update_settings
from labelwise.store.models import Annotation, Image, LabelClass
from tests.server.scripted_annotator import label_by_script, true_class
from tests.server.test_browser_one_key import trained_project
from tests.utils.images import write_fashion_folder
from tests.utils.server import ServerProcess, launch_chromium


def run(folder: Path, images: Path, labels: int, preselect: bool) -> tuple[object, float]:
    tokens = trained_project(folder, images)
    if not preselect:
        project = Project(folder)
        update_settings(project, {"preselect_threshold": None}, "bench")
        project.close()
    server = ServerProcess(folder)
    server.start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{server.url}/login?token={tokens['ann']}")
            page.goto(f"{server.url}/annotate")
            start = time.perf_counter()
            script = label_by_script(page, labels)
            seconds = time.perf_counter() - start
            browser.close()
    finally:
        server.stop()
    project = Project(folder)
    with project.sessions() as session:
        rows = session.execute(
            select(LabelClass.name, Image.path, Annotation.preselect_accepted)
            .join(LabelClass, LabelClass.id == Annotation.class_id)
            .join(Image, Image.id == Annotation.image_id)
            .where(Annotation.source == "server")
        ).all()
    project.close()
    # What the script did is what the labels record: every label the true class, the accepted count.
    assert len(rows) == labels and all(r.name == true_class(r.path) for r in rows)
    assert sum(bool(r.preselect_accepted) for r in rows) == script.enters
    return script, seconds / labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=int, default=200, help="labels per mode, after the 200 true ones")
    parser.add_argument("--per-class", type=int, default=60, help="images per class in the pool")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        images = write_fashion_folder(Path(tmp) / "images", per_class=args.per_class, offset=5000)
        table, served = [], {}
        for preselect in (True, False):
            script, per_label = run(Path(tmp) / f"proj-{preselect}", images, args.labels, preselect)
            served[preselect] = script
            table.append([
                "on (0.6)" if preselect else "off (baseline)", str(script.labels),
                f"{script.keystrokes / script.labels:.2f}", f"{script.offered} ({script.offered / script.labels:.0%})",
                f"{script.enters} ({script.enters / script.labels:.0%})", str(script.wrong_preselections),
                f"{per_label:.2f}",
            ])  # fmt: skip
    print(f"{10 * args.per_class} Fashion-MNIST images, 200 true labels, squeezenet; "
          f"{args.labels} scripted labels per mode")  # fmt: skip
    print_table(["pre-selection", "labels", "keys/label", "pre-selected", "accepted (Enter)", "overridden",
                 "script s/label"], table)  # fmt: skip


if __name__ == "__main__":
    main()
