"""Label Studio export JSON as a label source, and ``export --format label-studio``."""

from __future__ import annotations

import json
import subprocess
import sys

from labelwise.project import Project
from labelwise.project.export import export_text, labeled_rows
from labelwise.project.ingest import ingest_folder
from labelwise.project.settings import get_settings
from labelwise.project.training import train_and_rank
from tests.label_studio_server import choice_result
from tests.utils.images import write_fashion_folder


def _task(task_id, url, name, who="ann@example.com", **extra):
    annotation = {"id": task_id, "completed_by": {"id": 3, "email": who}, "result": choice_result(name), **extra}
    return {"id": task_id, "data": {"image": url}, "annotations": [annotation]}


def test_init_and_import_labels_read_a_label_studio_export(tmp_path):
    images = write_fashion_folder(tmp_path / "images", per_class=2)
    paths = sorted(p.relative_to(images).as_posix() for p in images.rglob("*.png"))
    export = [
        _task(1, f"/data/upload/3/0a1b2c3d-{paths[0].split('/')[1]}", "Bag"),  # uploaded: by file name
        _task(2, f"/data/local-files/?d={paths[1]}", "Coat", who="bo@example.com"),  # local files: by path
        _task(3, "/data/upload/3/0a1b2c3d-missing.png", "Bag"),
        _task(4, f"/data/local-files/?d={paths[2]}", "Bag", was_cancelled=True),  # skipped, not a label
    ]
    source = tmp_path / "ls-export.json"
    source.write_text(json.dumps(export))
    run = subprocess.run(
        [sys.executable, "-m", "labelwise.cli", "init", str(tmp_path / "proj"), "--images", str(images),
         "--labels", str(source), "--backbone", "squeezenet"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr  # one task refused, named
    assert "task 3: image '/data/upload/3/0a1b2c3d-missing.png' is not in the project" in run.stderr
    project = Project(tmp_path / "proj")
    rows = {r["path"]: (r["label"], r["annotator"]) for r in labeled_rows(project)}
    assert rows == {
        paths[0]: ("Bag", "label-studio:ann@example.com"),
        paths[1]: ("Coat", "label-studio:bo@example.com"),
    }
    assert project.class_names() == ["Bag", "Coat"]

    # import-labels: a class the project does not know is refused by name unless --add-classes.
    source.write_text(json.dumps([_task(5, f"/data/local-files/?d={paths[3]}", "Sandal")]))
    run = subprocess.run([sys.executable, "-m", "labelwise.cli", "import-labels", str(tmp_path / "proj"), str(source)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1 and "class 'Sandal' is unknown" in run.stderr
    project.close()


def test_export_label_studio_gives_tasks_with_labels_and_ranked_predictions(tmp_path):
    images = write_fashion_folder(tmp_path / "images", per_class=3)
    project = Project.create(tmp_path / "proj", images, backbone="squeezenet")
    project.add_classes(["Bag", "Coat"])
    ingest_folder(project)
    from labelwise.project.labels import label_image

    label_image(project, "Bag/" + sorted(p.name for p in (images / "Bag").iterdir())[0], "Bag")
    label_image(project, "Coat/" + sorted(p.name for p in (images / "Coat").iterdir())[0], "Coat")
    ranking, _ = train_and_rank(project, get_settings(project))
    tasks = json.loads(export_text(project, "label-studio"))
    assert len(tasks) == 30
    labeled = [t for t in tasks if "annotations" in t]
    assert sorted(t["annotations"][0]["result"][0]["value"]["choices"][0] for t in labeled) == ["Bag", "Coat"]
    by_id = {t["data"]["labelwise_id"]: t for t in tasks}
    best = by_id[ranking.entries[0].image_id]["predictions"][0]
    assert best["score"] == 0.0 and best["model_version"] == f"labelwise-v{ranking.version}"
    assert best["result"][0]["value"]["choices"] == [ranking.entries[0].top[0][0]]
    scores = [by_id[e.image_id]["predictions"][0]["score"] for e in ranking.entries]
    assert scores == sorted(scores)
    assert by_id[ranking.entries[0].image_id]["data"]["image"].startswith("/data/local-files/?d=")
    project.close()
