"""Bring your own embeddings: ``init --embeddings`` (Parquet or NPZ, path -> vector) builds a project on
the user's vectors; bad rows are refused with their row and reason, paths without an image listed,
images without a vector refused at ingest; labelwise's own vectors, exported and brought back, give
the same ranking."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.embed.user_vectors import read_user_embeddings
from labelwise.errors import LabelwiseError
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.labels import import_labels_csv
from labelwise.project.suggest import suggest
from labelwise.store.models import STATUS_BROKEN, Image


def own_vectors(project: Project) -> tuple[list[str], np.ndarray]:
    """Every ok image's path and its vector from the project's store, as an export would give them."""
    with project.sessions() as session:
        rows = session.execute(select(Image.path, Image.content_hash).where(Image.status == "ok")).all()
    return [r[0] for r in rows], project.store.get([r[1] for r in rows])


def labeled(project: Project, folder, paths: list[str]) -> None:
    (folder / "labels.csv").write_text("".join(f"{p},{p.split('/')[0]}\n" for p in paths))
    project.add_classes(sorted({p.split("/")[0] for p in paths}))
    assert import_labels_csv(project, folder / "labels.csv").imported == len(paths)


def test_a_project_on_exported_vectors_ranks_like_the_original(tmp_path, fashion_folder):
    original = Project.create(tmp_path / "a", fashion_folder, backbone="squeezenet")
    ingest_folder(original)
    paths, vectors = own_vectors(original)
    np.savez(tmp_path / "vectors.npz", paths=np.array(paths), vectors=vectors)
    result = CliRunner().invoke(app, ["init", str(tmp_path / "b"), "--images", str(fashion_folder),
                                      "--embeddings", str(tmp_path / "vectors.npz")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{len(paths)} vector(s)" in result.output
    copy = Project(tmp_path / "b")
    assert copy.config.backbone == "user" and copy.embedding_dim == vectors.shape[1]
    chosen = paths[::10]
    labeled(original, tmp_path / "a", chosen)
    labeled(copy, tmp_path / "b", chosen)
    first, second = suggest(original, 30, strategy="margin"), suggest(copy, 30, strategy="margin")
    assert [i.path for i in first.items] == [i.path for i in second.items]
    assert [i.score for i in first.items] == pytest.approx([i.score for i in second.items], abs=1e-6)
    original.close()
    copy.close()


def test_bad_rows_are_refused_by_row_and_images_without_a_vector_by_reason(tmp_path, fashion_folder):
    source = Project.create(tmp_path / "a", fashion_folder, backbone="squeezenet")
    ingest_folder(source)
    paths, vectors = own_vectors(source)
    source.close()
    rows = [list(map(float, v)) for v in vectors]
    rows[3] = rows[3][:-1]  # one value short
    rows[4][0] = float("nan")
    table_paths = [*paths[:-1], paths[0], "Bag/not-there.png"]  # the last image left out; a repeat; a stray
    table_rows = [*rows[:-1], rows[0], rows[1]]
    pq.write_table(pa.table({"path": table_paths, "embedding": table_rows}), tmp_path / "v.parquet")
    result = CliRunner().invoke(app, ["init", str(tmp_path / "b"), "--images", str(fashion_folder),
                                      "--embeddings", str(tmp_path / "v.parquet")])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"row 4: {paths[3]}: {vectors.shape[1] - 1} values, the others have {vectors.shape[1]}" in out
    assert f"row 5: {paths[4]}: a NaN or infinite value" in out
    assert f"row {len(paths)}: {paths[0]}: given before, at row 1" in out
    assert "no such image (1): Bag/not-there.png" in out
    project = Project(tmp_path / "b")
    with project.sessions() as session:
        broken = dict(session.execute(select(Image.path, Image.reason).where(Image.status == STATUS_BROKEN)).all())
    project.close()
    assert set(broken) == {paths[3], paths[4], paths[-1]}
    assert all("no vector for this image in the embeddings file" in r for r in broken.values())


def test_unreadable_embeddings_files_are_refused_with_the_file_named(tmp_path):
    with pytest.raises(LabelwiseError, match="file not found"):
        read_user_embeddings(tmp_path / "none.npz")
    (tmp_path / "v.csv").write_text("x")
    with pytest.raises(LabelwiseError, match=r"expected a \.parquet or \.npz file"):
        read_user_embeddings(tmp_path / "v.csv")
    np.savez(tmp_path / "v.npz", names=np.array(["a"]), vectors=np.zeros((1, 3)))
    with pytest.raises(LabelwiseError, match=r"v.npz: expected one path column"):
        read_user_embeddings(tmp_path / "v.npz")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(LabelwiseError, match=r"bad\.parquet: cannot read"):
        read_user_embeddings(tmp_path / "bad.parquet")


def test_add_embeddings_brings_back_the_images_that_had_no_vector(tmp_path, fashion_folder):
    source = Project.create(tmp_path / "a", fashion_folder, backbone="squeezenet")
    ingest_folder(source)
    paths, vectors = own_vectors(source)
    source.close()
    np.savez(tmp_path / "first.npz", paths=np.array(paths[:-3]), vectors=vectors[:-3])
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(tmp_path / "b"), "--images", str(fashion_folder),
                                 "--embeddings", str(tmp_path / "first.npz")])  # fmt: skip
    assert result.exit_code == 0, result.output

    def statuses() -> dict[str, str]:
        project = Project(tmp_path / "b")
        with project.sessions() as session:
            found = dict(session.execute(select(Image.path, Image.status)).all())
        project.close()
        return found

    assert [statuses()[p] for p in paths[-3:]] == [STATUS_BROKEN] * 3
    later = vectors[-3:].copy()
    later[1, 0] = np.nan  # refused by row: that image stays broken
    np.savez(tmp_path / "later.npz", paths=np.array([*paths[-3:], paths[0]]), vectors=np.vstack([later, vectors[:1]]))
    result = runner.invoke(app, ["add", str(tmp_path / "b"), "--embeddings", str(tmp_path / "later.npz")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "2 vector(s) from" in out and "(1 image(s) had one already: kept)" in out
    assert f"row 2: {paths[-2]}: a NaN or infinite value" in out
    after = statuses()
    assert [after[p] for p in paths[-3:]] == ["ok", STATUS_BROKEN, "ok"]
    assert sum(s == "ok" for s in after.values()) == len(paths) - 1
    # Another dimension, or a project whose vectors come from a backbone: refused, naming the file.
    np.savez(tmp_path / "short.npz", paths=np.array(paths[-2:-1]), vectors=vectors[-2:-1, :-1])
    result = runner.invoke(app, ["add", str(tmp_path / "b"), "--embeddings", str(tmp_path / "short.npz")])
    assert result.exit_code != 0 and "short.npz: vectors of" in " ".join(result.output.split())
    assert statuses()[paths[-2]] == STATUS_BROKEN
    result = runner.invoke(app, ["add", str(tmp_path / "a"), "--embeddings", str(tmp_path / "later.npz")])
    assert result.exit_code != 0 and "squeezenet backbone" in " ".join(result.output.split())
