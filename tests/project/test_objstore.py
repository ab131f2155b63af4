"""Images on a real S3 server (moto, on loopback): ingested like a local folder of the same files,
followed by ``add``, and served (file and thumbnail) through the same file system."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from PIL import Image
from pyarrow import fs
from sklearn.datasets import load_sample_images
from typer.testing import CliRunner

from labelwise.cli import app
from labelwise.errors import LabelwiseError
from labelwise.ingest import objstore
from labelwise.project import Project
from labelwise.project.check import check_project
from labelwise.project.export import export_image_folder
from labelwise.project.images import image_bytes, thumbnail
from labelwise.project.labels import label_image
from labelwise.project.users import add_user
from labelwise.server.app import create_app
from labelwise.store.models import Annotation, LabelClass
from labelwise.store.models import Image as ImageRow
from tests.utils.images import write_bad_input_folder
from tests.utils.ingest import assert_same_embeddings, assert_same_ingest

runner = CliRunner()
BUCKET = "photos"


@pytest.fixture(scope="module")
def s3():
    """A real S3 server on a loopback port, found by pyarrow through AWS_ENDPOINT_URL (each test
    uses its own prefix of the bucket). Set in os.environ, so that Ray nodes started later inherit it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        patch.setenv(name, value)
    objstore.forget_filesystems()  # one opened for another server
    try:
        filesystem, _ = fs.FileSystem.from_uri(f"s3://{BUCKET}?allow_bucket_creation=true")
        filesystem.create_dir(BUCKET)
        yield filesystem
    finally:
        objstore.forget_filesystems()
        patch.undo()
        server.stop()


def upload(filesystem, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and "loop" not in path.relative_to(folder).parts:
            with filesystem.open_output_stream(f"{prefix}/{path.relative_to(folder).as_posix()}") as out:
                out.write(path.read_bytes())


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def status(project) -> dict:
    return json.loads(invoke("status", project, "--json"))


def photos_folder(root: Path) -> Path:
    write_bad_input_folder(root)
    for k, photo in enumerate(load_sample_images().images):  # real photos: a temple, a flower
        Image.fromarray(photo).save(root / f"real-{k}.jpg", quality=90)
    return root


def test_an_s3_prefix_ingests_like_the_local_folder_of_the_same_files(tmp_path, s3):
    images = photos_folder(tmp_path / "images")
    upload(s3, images, f"{BUCKET}/set1")
    uri = f"s3://{BUCKET}/set1"
    args = ("--backbone", "squeezenet", "--classes", "a,b")
    invoke("init", tmp_path / "local", "--images", images, *args)
    invoke("init", tmp_path / "s3", "--images", uri + "/", *args)
    local, remote = status(tmp_path / "local"), status(tmp_path / "s3")
    # The same reasons, for the same files: each object stored under its full URI.
    assert_same_ingest(local, remote, path=lambda p: f"{uri}/{quote(p)}")
    assert local["images_broken"] == 5 and local["images_ok"] == 15
    assert remote["images_root"] == uri
    a, b = Project(tmp_path / "local"), Project(tmp_path / "s3")
    assert_same_embeddings(a, b)
    with a.sessions() as sa, b.sessions() as sb:
        rows_a = {r.path: (r.status, r.content_hash, r.width, r.height) for r in sa.query(ImageRow)}
        rows_b = {r.path: (r.status, r.content_hash, r.width, r.height) for r in sb.query(ImageRow)}
    assert {f"{uri}/{quote(p)}": v for p, v in rows_a.items()} == rows_b
    assert f"{uri}/unicode/caf%C3%A9_%E6%97%A5%E6%9C%AC%E8%AA%9E_%F0%9F%99%82.png" in rows_b
    # A process whose first read is an encoded URI (the server after a restart) opens it too.
    objstore.forget_filesystems()
    unicode_rel = "unicode/café_日本語_🙂.png"
    with b.sessions() as sb:
        unicode_id = sb.query(ImageRow).filter_by(path=f"{uri}/{quote(unicode_rel)}").one().id
    assert image_bytes(b, unicode_id) == (images / unicode_rel).read_bytes()
    a.close()
    b.close()


@contextlib.contextmanager
def ray_cluster(start_cluster, **hidden_env):
    """A two-node loopback cluster (RAY_ADDRESS names it), started without ``hidden_env``'s variables."""
    import ray

    patch = pytest.MonkeyPatch()
    for name in hidden_env:
        patch.delenv(name)
    cluster = start_cluster()
    patch.undo()
    try:
        for name, value in {**cluster.auth, "RAY_ADDRESS": cluster.address}.items():
            patch.setenv(name, value)
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()
        patch.undo()


def test_ray_reads_the_objects_in_its_actors(tmp_path, s3):
    """``--ray`` on a two-node loopback cluster: each actor opens the file system from the URI
    (the nodes' environment names the endpoint), and the project is the local one."""
    import ray

    from tests.project.ray_cluster import start_cluster

    images = photos_folder(tmp_path / "images")
    upload(s3, images, f"{BUCKET}/ray")
    uri = f"s3://{BUCKET}/ray"
    args = ("--images", uri, "--backbone", "squeezenet", "--classes", "a,b")
    invoke("init", tmp_path / "local", *args)
    with ray_cluster(start_cluster):
        invoke("init", tmp_path / "ray", *args, "--ray", "auto")
        assert sum(node["Alive"] for node in ray.nodes()) == 2
    local, remote = status(tmp_path / "local"), status(tmp_path / "ray")
    assert_same_ingest(local, remote)
    assert local["images_broken"] == 5 and local["images_ok"] == 15
    a, b = Project(tmp_path / "local"), Project(tmp_path / "ray")
    assert_same_embeddings(a, b)
    a.close()
    b.close()


def test_ray_nodes_without_the_stores_settings_stop_the_ingest_with_a_clear_message(tmp_path, s3):
    """Not a broken file each: the driver reads the object, so the nodes' environment is wrong."""
    from tests.project.ray_cluster import start_cluster

    photos = photos_folder(tmp_path / "images")
    upload(s3, photos / "good", f"{BUCKET}/blind")
    with ray_cluster(start_cluster, AWS_ENDPOINT_URL=True):
        result = runner.invoke(app, ["init", str(tmp_path / "p"), "--images", f"s3://{BUCKET}/blind",
                                     "--backbone", "squeezenet", "--ray", "auto"])  # fmt: skip
    assert result.exit_code != 0
    assert f"a Ray node cannot read s3://{BUCKET}/blind/" in result.output
    assert "object store's settings in its environment (AWS_ENDPOINT_URL" in result.output


def test_add_follows_the_prefix_and_the_server_reads_the_objects(tmp_path, s3):
    images = tmp_path / "images"
    images.mkdir()
    photos = load_sample_images().images
    Image.fromarray(photos[0]).save(images / "temple.jpg", quality=90)
    Image.fromarray(photos[1]).save(images / "flower.png")
    (images / "sub").mkdir()
    (images / "sub" / "broken.jpg").write_bytes(b"not a picture")
    upload(s3, images, f"{BUCKET}/pool")
    uri = f"s3://{BUCKET}/pool"
    invoke("init", tmp_path / "proj", "--images", uri, "--backbone", "squeezenet", "--classes", "a,b")
    s3.delete_file(f"{BUCKET}/pool/temple.jpg")
    with s3.open_output_stream(f"{BUCKET}/pool/sub/new.jpg") as out:
        out.write((images / "temple.jpg").read_bytes())  # the deleted picture under a new key: a move
    output = invoke("add", tmp_path / "proj")
    assert "1 moved" in output
    project = Project(tmp_path / "proj")
    with project.sessions() as session:
        rows = {r.path: r for r in session.query(ImageRow)}
    assert set(rows) == {f"{uri}/flower.png", f"{uri}/sub/new.jpg", f"{uri}/sub/broken.jpg"}
    assert rows[f"{uri}/sub/broken.jpg"].reason.startswith("not an image")
    moved = rows[f"{uri}/sub/new.jpg"]
    assert image_bytes(project, moved.id) == (images / "temple.jpg").read_bytes()
    with Image.open(thumbnail(project, moved.id)) as thumb:
        assert max(thumb.size) == 256 and thumb.format == "JPEG"
    token = add_user(project, "ada", "admin")
    project.close()
    server = create_app(tmp_path / "proj", start_worker=False)
    try:
        with TestClient(server, headers={"Authorization": f"Bearer {token}"}) as client:
            flower = rows[f"{uri}/flower.png"].id
            response = client.get(f"/api/images/{flower}/file")
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "image/png"
            assert response.content == (images / "flower.png").read_bytes()
            thumb = client.get(f"/api/images/{flower}/thumb")
            assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
            s3.delete_file(f"{BUCKET}/pool/flower.png")  # gone from the store since the ingest
            assert client.get(f"/api/images/{flower}/file").status_code == 404
    finally:
        server.state.retrainer.stop()
        server.state.project.close()
        server.state.retrainer.project.close()


def test_labels_from_folders_and_by_relative_path_on_an_object_store(tmp_path, s3):
    images = tmp_path / "images"
    photos = load_sample_images().images
    for k, name in enumerate(["temple", "flower"]):
        (images / f"{name} class").mkdir(parents=True)
        Image.fromarray(photos[k]).save(images / f"{name} class" / f"{name} ü.jpg", quality=90)
    upload(s3, images, f"{BUCKET}/classes")
    uri = f"s3://{BUCKET}/classes"
    invoke("init", tmp_path / "proj", "--images", uri, "--backbone", "squeezenet", "--labels-from-folders")
    project = Project(tmp_path / "proj")
    with project.sessions() as session:
        labels = {
            row.path: name
            for row, name in session.query(ImageRow, LabelClass.name)
            .join(Annotation, Annotation.image_id == ImageRow.id)
            .join(LabelClass, LabelClass.id == Annotation.class_id)
        }
    assert labels == {
        f"{uri}/temple%20class/temple%20%C3%BC.jpg": "temple class",
        f"{uri}/flower%20class/flower%20%C3%BC.jpg": "flower class",
    }
    # A path relative to the images URI names the same object, as a relative path names a file.
    label_image(project, "temple class/temple ü.jpg", "flower class")
    label_image(project, f"{uri}/flower%20class/flower%20%C3%BC.jpg", "temple class")
    with pytest.raises(LabelwiseError, match="not in the project"):
        label_image(project, "temple class/nothing.jpg", "flower class")
    # Exported as files (fetched), checked against the store, re-embedded from the objects.
    folder, count, _ = export_image_folder(project, tmp_path / "export")
    assert count == 2
    assert sorted(p.relative_to(folder).parent.name + "|" + p.name.split("-", 1)[1] for p in folder.rglob("*.jpg")) == [
        "flower class|temple ü.jpg", "temple class|flower ü.jpg"
    ]  # fmt: skip
    for path in folder.rglob("*.jpg"):
        original = images / ("temple class" if "temple" in path.name else "flower class") / path.name.split("-", 1)[1]
        assert path.read_bytes() == original.read_bytes()
    report = check_project(project, sample=0)
    assert (report.files_missing, report.files_changed, report.wrong_vector, report.sampled) == ([], [], [], 2)
    s3.delete_file(f"{BUCKET}/classes/temple class/temple ü.jpg")
    assert check_project(project, sample=0).files_missing == [f"{uri}/temple%20class/temple%20%C3%BC.jpg"]
    project.close()


def test_bad_uris_are_refused_with_the_uri_named(tmp_path, s3):
    with pytest.raises(LabelwiseError, match=r"s3://photos/none: images folder not found"):
        Project.create(tmp_path / "p1", "s3://photos/none")
    with pytest.raises(LabelwiseError, match=r"s3://nobucket/x: .*NO_SUCH_BUCKET|s3://nobucket/x: .*not found"):
        Project.create(tmp_path / "p2", "s3://nobucket/x")
    with pytest.raises(LabelwiseError, match=r"endpoint_override.*: options in the URI are not kept"):
        Project.create(tmp_path / "p3", "s3://photos/x?endpoint_override=localhost")
    with s3.open_output_stream(f"{BUCKET}/one/a.png") as out:
        out.write(b"x")
    with pytest.raises(LabelwiseError, match=r"s3://photos/one/a.png: is an object, not a folder"):
        Project.create(tmp_path / "p4", "s3://photos/one/a.png")
    Project.create(tmp_path / "p5", "s3://photos/one").close()
    result = runner.invoke(app, ["add", str(tmp_path / "p5"), "--images", "s3://photos/other"])
    assert result.exit_code != 0 and "s3://photos/other: not under the project's images URI s3://photos/one" in (
        result.output
    )
    assert not os.path.exists(tmp_path / "p1")
    # A folder relative to the images URI is a prefix under it.
    with s3.open_output_stream(f"{BUCKET}/one/sub/b.png") as out:
        out.write(b"not a png")
    output = invoke("add", tmp_path / "p5", "--images", "sub")
    assert "1 files found" in output and "1 broken" in output and "s3://photos/one/sub/b.png: not an image" in output
    # A local project takes no URI.
    local = tmp_path / "local-images"
    local.mkdir()
    Project.create(tmp_path / "p6", local).close()
    result = runner.invoke(app, ["add", str(tmp_path / "p6"), "--images", "s3://photos/one"])
    assert result.exit_code != 0 and "not on an object store" in result.output
