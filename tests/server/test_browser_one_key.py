"""One-key accept in Debian's Chromium (issue 12): after 200 labels of Fashion-MNIST, the annotate page
pre-selects the model's class and Enter accepts it; the labels record it. The same scripted annotator
labels with pre-selection off for comparison. ``benchmarks/bench_one_key.py`` runs the issue's 200."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from labelwise.project import Project
from labelwise.project.labels import import_labels_csv
from labelwise.project.settings import get_settings, update_settings
from labelwise.project.training import train_and_rank
from labelwise.store.models import Annotation, Image, LabelClass
from tests.server.scripted_annotator import label_by_script, true_class
from tests.utils.server import ServerProcess, launch_chromium, make_project

LABELS = 20  # per mode


def trained_project(folder: Path, images: Path, per_class: int = 20) -> dict[str, str]:
    """A served project with ``per_class`` true labels per class (200 for Fashion-MNIST) and its model;
    returns the people's tokens."""
    project, tokens = make_project(folder, images)
    rows = [[p.relative_to(images).as_posix(), p.parent.name] for d in sorted(images.iterdir())
            for p in sorted(d.glob("*.png"))[:per_class]]  # fmt: skip
    with open(folder / "labels.csv", "w", newline="") as file:
        csv.writer(file).writerows(rows)
    assert import_labels_csv(project, folder / "labels.csv").imported == len(rows)
    update_settings(project, {"retrain_every": 1000}, "test")  # the served ranking stays put
    train_and_rank(project, get_settings(project))
    project.close()
    return tokens


@pytest.mark.slow
def test_enter_accepts_the_preselected_class_and_the_label_records_it(tmp_path, big_fashion_folder):
    folder = tmp_path / "proj"
    tokens = trained_project(folder, big_fashion_folder)
    server = ServerProcess(folder)
    server.start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{server.url}/login?token={tokens['ann']}")
            page.goto(f"{server.url}/annotate")
            # The screenshot was looked at when the test was written.
            with_pre = label_by_script(page, LABELS, screenshot=tmp_path / "one-key-accept.png")
            project = Project(folder)
            update_settings(project, {"preselect_threshold": None}, "test")
            project.close()
            page.reload()
            without = label_by_script(page, LABELS)
            browser.close()
    finally:
        server.stop()
    print(f"\nwith pre-selection: {with_pre.summary()}\nwithout: {without.summary()}")
    project = Project(folder)
    with project.sessions() as session:
        rows = session.execute(
            select(Annotation.preselected, Annotation.preselect_accepted, LabelClass.name, Image.path)
            .join(LabelClass, LabelClass.id == Annotation.class_id)
            .join(Image, Image.id == Annotation.image_id)
            .where(Annotation.source == "server")
            .order_by(Annotation.id)
        ).all()
    project.close()
    assert len(rows) == 2 * LABELS
    assert all(r.name == true_class(r.path) for r in rows)  # every keystroke gave the true class
    first, second = rows[:LABELS], rows[LABELS:]
    assert sum(bool(r.preselect_accepted) for r in first) == with_pre.enters
    assert sum(r.preselected is not None for r in first) == with_pre.offered
    assert all(r.preselected is None for r in second) and without.enters == without.offered == 0
    # Trained on 200 labels, the model's class is right for most images: Enter does most labels.
    assert with_pre.enters >= 1, with_pre.summary()
    assert with_pre.keystrokes == without.keystrokes == LABELS  # one key per label either way
