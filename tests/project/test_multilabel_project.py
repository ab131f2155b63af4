"""Multi-label projects through the project layer, on SQLite and PostgreSQL: the kind fixed at init,
label sets (empty = explicit none) with their history, the queue's rules unchanged, the settings a
multi-label project refuses, training and ranking, and the exports."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from sqlalchemy import func, select, text

from labelwise.errors import ConflictError, LabelwiseError
from labelwise.project import Project
from labelwise.project.export import export_text
from labelwise.project.ingest import ingest_folder
from labelwise.project.multilabel_labels import current_label_sets, label_image_set
from labelwise.project.multilabel_model import load_predictions
from labelwise.project.queue import annotate, label_count, lease_next, recent_labels, undo
from labelwise.project.review import likely_mislabeled, review_label
from labelwise.project.settings import get_settings, update_settings
from labelwise.project.status import project_status
from labelwise.project.suggest import suggest
from labelwise.project.training import Ranking, ranking_path, train_and_rank
from labelwise.project.users import add_user
from labelwise.store.models import STATUS_OK, Annotation, AnnotationClass, Image, User
from labelwise.strategies.multilabel import DEFAULT_MULTILABEL_STRATEGY, get_multilabel_strategy
from tests.utils.images import write_fashion_folder

CLASSES = ["cat", "dog", "owl", "fox"]


def make_project(folder, db_url, *, multi_label: bool = True, n_images: int = 8) -> Project:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    extra = {"db_url": db_url} if db_url else {}
    project = Project.create(folder / "proj", folder / "images", backbone="squeezenet", multi_label=multi_label,
                             **extra)  # fmt: skip
    project.add_classes(CLASSES)
    with project.sessions.begin() as session:
        session.add_all(Image(path=f"{i}.png", content_hash=f"{i:064x}", status=STATUS_OK) for i in range(n_images))
    for name in ("ann", "bob"):
        add_user(project, name, "annotator")
    return project


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    proj = make_project(tmp_path, url)
    yield proj
    proj.close()


def people(project) -> dict[str, User]:
    with project.sessions() as session:
        return {u.name: u for u in session.scalars(select(User))}


def sets(project) -> dict[int, list[int]]:
    with project.sessions() as session:
        return current_label_sets(session)


def test_the_kind_is_fixed_at_init_and_shown_in_status(project, tmp_path):
    reopened = Project(project.folder)
    assert reopened.multi_label and reopened.kind == "multi-label"
    assert project_status(reopened)["kind"] == "multi-label"
    single = Project.create(tmp_path / "single", tmp_path / "images", backbone="squeezenet")
    assert not single.multi_label and project_status(single)["kind"] == "single-label"


def test_a_label_set_an_explicit_none_and_their_history(project):
    ann = people(project)["ann"]
    first, second = (item.image_id for item in lease_next(project, ann, 2, None, 10.0))
    a1 = annotate(project, ann, first, ["owl", "cat"], None, queued=True)
    annotate(project, ann, second, [], None, queued=True)  # none of the classes: labeled, not unlabeled
    assert sets(project) == {first: [0, 2], second: []}
    assert label_count(project) == 2
    status = project_status(project)
    assert status["labeled"] == 2 and status["classes"] == {"cat": 1, "dog": 0, "owl": 1, "fox": 0}
    # Relabeling supersedes; the old set stays in the history with who and when.
    a2 = annotate(project, ann, first, ["dog"], None)
    assert sets(project)[first] == [1]
    with project.sessions() as session:
        old = session.get(Annotation, a1)
        assert old.superseded and old.annotator == "ann" and old.created_at is not None
        assert session.scalar(select(func.count()).where(AnnotationClass.annotation_id == a1)) == 2
    assert [r["labels"] for r in recent_labels(project, ann)] == [[], ["dog"]]
    # Undo brings the previous set back.
    undo(project, ann, a2, 10.0)
    assert sets(project)[first] == [0, 2]


def test_the_wrong_shape_and_bad_classes_are_refused_naming_the_field(project, tmp_path):
    ann = people(project)["ann"]
    image_id = lease_next(project, ann, 1, None, 10.0)[0].image_id
    for bad, why in [("cat", "multi-label project"), (["cat", "cat"], "given twice"), (["cat", "yak"], "unknown")]:
        with pytest.raises(LabelwiseError, match=f"^label: .*{why}"):
            annotate(project, ann, image_id, bad, None, queued=True)
    assert sets(project) == {}
    single = make_project(tmp_path / "s", None, multi_label=False)
    bob = people(single)["bob"]
    with pytest.raises(LabelwiseError, match=r"^label: this is a single-label project"):
        annotate(single, bob, 1, ["cat"], None)
    single.close()


def test_a_live_lease_of_somebody_else_refuses_the_set(project):
    p = people(project)
    image_id = lease_next(project, p["ann"], 1, None, 10.0)[0].image_id
    with pytest.raises(ConflictError, match="leased to ann"):
        annotate(project, p["bob"], image_id, ["cat"], None, queued=True)
    annotate(project, p["ann"], image_id, ["cat"], None, queued=True)
    assert sets(project) == {image_id: [0]}


def test_settings_of_a_multi_label_project(project):
    with pytest.raises(LabelwiseError, match=r"settings\.strategy: this is a multi-label project; .*single-label"):
        update_settings(project, {"strategy": "margin"}, "test")
    with pytest.raises(LabelwiseError, match=r"settings\.overlap: not available on a multi-label project"):
        update_settings(project, {"overlap": 0.2}, "test")
    with pytest.raises(LabelwiseError, match=r"settings\.head"):
        update_settings(project, {"head": "label-spreading"}, "test")
    assert update_settings(project, {"strategy": "mean-binary-entropy"}, "test")["strategy"] == "mean-binary-entropy"
    with pytest.raises(LabelwiseError, match=r"review: not available on a multi-label project"):
        likely_mislabeled(project)


def test_exports_carry_the_sets(project):
    label_image_set(project, "0.png", ["fox", "cat"])
    label_image_set(project, "1.png", [])
    rows = list(csv.DictReader(io.StringIO(export_text(project, "csv"))))
    assert [(r["path"], r["label"]) for r in rows] == [("0.png", "cat;fox"), ("1.png", "")]
    assert [(r["path"], r["label"]) for r in json.loads(export_text(project, "json"))] == [
        ("0.png", ["cat", "fox"]), ("1.png", [])]  # fmt: skip
    coco = json.loads(export_text(project, "coco"))
    ids = {image["file_name"]: image["id"] for image in coco["images"]}
    assert set(ids) == {"0.png", "1.png"}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    per_image = {path: sorted(names[a["category_id"]] for a in coco["annotations"] if a["image_id"] == i)
                 for path, i in ids.items()}  # fmt: skip
    assert per_image == {"0.png": ["cat", "fox"], "1.png": []}
    with pytest.raises(LabelwiseError, match="not available for a multi-label project"):
        export_text(project, "label-studio")


@pytest.fixture(scope="module")
def fashion_multilabel(tmp_path_factory):
    """A real multi-label project: 40 Fashion-MNIST pictures (squeezenet embeddings); the classes are
    'top' (upper-body garments), 'footwear' and 'dark' (mean pixel below the median)."""
    folder = write_fashion_folder(tmp_path_factory.mktemp("ml") / "images", per_class=4)
    project = Project.create(folder.parent / "proj", folder, backbone="squeezenet", multi_label=True)
    project.add_classes(["top", "footwear", "dark"])
    ingest_folder(project)
    yield project, folder
    project.close()


def test_training_ranks_the_pool_and_the_queue_serves_it(fashion_multilabel):
    project, folder = fashion_multilabel
    tops, feet = {"T-shirt-top", "Pullover", "Coat", "Shirt"}, {"Sandal", "Sneaker", "Ankle boot"}
    for sub in sorted(folder.iterdir())[:8]:
        for path in sorted(sub.iterdir())[:2]:
            names = (["top"] if sub.name in tops else []) + (["footwear"] if sub.name in feet else [])
            label_image_set(project, f"{sub.name}/{path.name}", names)
    labeled = set(sets(project))
    assert len(labeled) == 16
    ranking, info = train_and_rank(project, get_settings(project))
    assert ranking.strategy == DEFAULT_MULTILABEL_STRATEGY and info["n_labels"] == 16
    assert len(ranking.entries) == 40 - 16 and not labeled & {e.image_id for e in ranking.entries}
    scores = [e.score for e in ranking.entries]
    assert scores == sorted(scores, reverse=True)  # most uncertain first
    assert {name for e in ranking.entries for name, _ in e.top} <= {"top", "footwear", "dark"}
    saved = load_predictions(project)
    assert saved["probs"].shape == (40, 3) and np.all((saved["probs"] >= 0) & (saved["probs"] <= 1))
    # "dark" was never given: its probability is Laplace's constant 1 / (16 + 2), not 0.
    assert np.allclose(saved["probs"][:, 2], 1 / 18)
    add_user(project, "cid", "annotator")
    cid = people(project)["cid"]
    served = [item.image_id for item in lease_next(project, cid, 3, ranking, 10.0)]
    assert served == [e.image_id for e in ranking.entries[:3]]
    result = suggest(project, 5)
    assert result.strategy == DEFAULT_MULTILABEL_STRATEGY
    with project.sessions() as session:
        paths = dict(session.execute(select(Image.id, Image.path)).all())
    assert [i.path for i in result.items] == [paths[e.image_id] for e in ranking.entries[:5]]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0013_keeps_the_labels_of_a_0012_database(request, tmp_path, backend):
    from alembic import command

    from labelwise.project.labels import current_labels, label_image
    from labelwise.store import db
    from labelwise.store.models import LabelReview

    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    (tmp_path / "images").mkdir()
    project = Project.create(tmp_path / "proj", tmp_path / "images", backbone="squeezenet", db_url=url)
    command.downgrade(db.alembic_config(project.engine), "0012_trust2")  # a database of the release before
    project.add_classes(CLASSES)
    with project.sessions.begin() as session:
        session.add_all([Image(path="a.png", content_hash="a" * 64, status=STATUS_OK),
                         Image(path="b.png", content_hash="b" * 64, status=STATUS_OK)])  # fmt: skip
    label_image(project, "a.png", "owl")
    # A review points at annotations: SQLite's batch rebuild of that table must not trip on it.
    review_label(project, "a.png", reviewer="rev", new_class="fox")
    assert db.pending_migrations(project.engine) == ["0013_multilabel"]
    project.upgrade_database()
    assert db.pending_migrations(project.engine) == []
    with project.sessions() as session:
        assert current_labels(session) == {1: 3}
        assert session.scalars(select(LabelReview.action)).all() == ["change"]
        if backend == "sqlite":  # the pragma is back on for the connections that follow
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    project.config.multi_label = True  # the new column takes a set (no class) on the upgraded table
    label_image_set(project, "b.png", [])
    assert sets(project) == {2: []}
    project.close()


def test_downgrading_0013_refuses_while_label_sets_exist_and_changes_nothing(project):
    from alembic import command

    from labelwise.store import db

    label_image_set(project, "0.png", ["cat", "dog"])
    label_image_set(project, "1.png", [])
    config = db.alembic_config(project.engine)
    with pytest.raises(LabelwiseError, match=r"downgrade below 0013_multilabel: .* 2 multi-label annotation"):
        command.downgrade(config, "0012_trust2")
    assert db.pending_migrations(project.engine) == []
    assert sets(project) == {1: [0, 1], 2: []}  # nothing dropped
    with project.sessions.begin() as session:  # once no set is left, the downgrade goes through
        session.query(AnnotationClass).delete()
        session.query(Annotation).delete()
    command.downgrade(config, "0012_trust2")
    assert db.pending_migrations(project.engine) == ["0013_multilabel"]


def test_single_label_operations_are_refused_not_half_done(project, tmp_path):
    from labelwise.project.classes import merge_classes
    from labelwise.project.label_studio_files import import_labels_label_studio

    label_image_set(project, "0.png", ["cat", "dog"])
    with pytest.raises(LabelwiseError, match=r"^merge: not available on a multi-label project"):
        merge_classes(project, "cat", "dog", "test")
    with pytest.raises(LabelwiseError, match=r"^review: not available on a multi-label project"):
        review_label(project, "0.png", reviewer="lead", new_class="owl")
    export = tmp_path / "ls.json"
    export.write_text("[]")
    with pytest.raises(LabelwiseError, match=r"ls\.json: a Label Studio import: not available on a multi-label"):
        import_labels_label_studio(project, export)
    assert sets(project) == {1: [0, 1]}


def test_with_ray_address_a_multi_label_retrain_ranks_here_and_says_so(fashion_multilabel, monkeypatch):
    from labelwise.project.ray_rank import rank_for_worker

    project, folder = fashion_multilabel
    for sub in sorted(folder.iterdir())[:4]:  # labels, so that the ranking is no cold start
        for path in sorted(sub.iterdir())[:2]:
            label_image_set(project, f"{sub.name}/{path.name}", ["top"] if sub.name == "Shirt" else ["dark"])
    settings = {**get_settings(project), "strategy": "mean-binary-entropy"}  # a name Ray's path would refuse
    writes = []
    save = Ranking.save
    monkeypatch.setattr(Ranking, "save", lambda self, path: (writes.append(self.note), save(self, path)))
    ranking = rank_for_worker(project, settings, "ray://nowhere:10001")
    assert ranking.strategy == "mean-binary-entropy"  # the setting reaches the ranking
    assert "multi-label project is ranked on the server's machine" in ranking.note
    # Written once, with its note: the queue never loads the ranking without it.
    assert writes == [ranking.note] and Ranking.load(ranking_path(project)).note == ranking.note
    with pytest.raises(LabelwiseError, match="--ray: a multi-label project"):
        suggest(project, 3, ray="ray://nowhere:10001")


@pytest.mark.parametrize("strategy", ["mmc", "max-margin-cardinality", "cluster-max-uncertainty", "binary-badge"])
def test_strategies_that_need_labels_or_features_serve_too(fashion_multilabel, strategy):
    """The retrain gives every multi-label strategy what it needs (the label sets, the features)."""
    project, folder = fashion_multilabel
    for sub in sorted(folder.iterdir())[:4]:
        for path in sorted(sub.iterdir())[:2]:
            label_image_set(project, f"{sub.name}/{path.name}", ["top"] if sub.name == "Shirt" else ["dark"])
    assert get_multilabel_strategy(strategy).needs
    ranking, _ = train_and_rank(project, {**get_settings(project), "strategy": strategy})
    labeled = set(sets(project))
    assert ranking.strategy == strategy and ranking.entries
    assert not labeled & {e.image_id for e in ranking.entries}


def test_a_formula_first_in_a_set_is_made_safe_in_the_csv_only(project):
    project.add_classes(["=SUM(1)"])
    label_image_set(project, "0.png", ["=SUM(1)"])
    label_image_set(project, "1.png", ["cat", "=SUM(1)"])  # not first: the cell is no formula
    rows = list(csv.DictReader(io.StringIO(export_text(project, "csv"))))
    assert [r["label"] for r in rows] == ["'=SUM(1)", "cat;=SUM(1)"]
    assert [r["label"] for r in json.loads(export_text(project, "json"))] == [["=SUM(1)"], ["cat", "=SUM(1)"]]
