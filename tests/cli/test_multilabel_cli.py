"""A multi-label project from the command line: init --multi-label (with a CSV of ;-joined sets),
label, status, suggest and export."""

from __future__ import annotations

import csv
import io
import json

from tests.utils.cli import invoke


def test_a_multi_label_project_from_init_to_export(tmp_path, fashion_folder):
    paths = sorted(p.relative_to(fashion_folder).as_posix() for p in fashion_folder.rglob("*.png"))
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\n{paths[0]},Bag;Coat\n{paths[1]},\n{paths[2]},Yak\n")
    project = tmp_path / "proj"
    out = invoke("init", project, "--images", fashion_folder, "--backbone", "squeezenet", "--multi-label",
                 "--classes", "Bag,Coat,Sandal", "--labels", labels, code=1).output  # fmt: skip
    assert "labels imported: 2, refused: 1" in out and "unknown class 'Yak'" in out
    info = json.loads(invoke("status", project, "--json").stdout)
    assert info["kind"] == "multi-label" and info["labeled"] == 2
    assert info["classes"] == {"Bag": 1, "Coat": 1, "Sandal": 0}
    assert "multi-label" in invoke("status", project).output
    invoke("label", project, paths[3], "Sandal;Bag")
    invoke("label", project, paths[1], "Coat")  # relabel the "none" image
    assert "unknown" in invoke("label", project, paths[4], "Sandal;Boat", code=2).output
    suggested = json.loads(invoke("suggest", project, "-n", "5", "--format", "json").stdout)
    items = suggested["items"] if isinstance(suggested, dict) else suggested
    assert len(items) == 5 and not {i["path"] for i in items} & {paths[0], paths[1], paths[3]}  # labeled ones
    out_csv = tmp_path / "labels-out.csv"
    invoke("export", project, "--format", "csv", "--out", out_csv)
    rows = {r["path"]: r["label"] for r in csv.DictReader(io.StringIO(out_csv.read_text()))}
    assert rows == {paths[0]: "Bag;Coat", paths[1]: "Coat", paths[3]: "Bag;Sandal"}
