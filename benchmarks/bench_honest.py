"""Honest numbers (issue 19): the dashboard's audit estimate against the model's true accuracy.

End to end through a real ``labelwise serve``: a pool of Fashion-MNIST test pictures (as the demo
builds it), default settings (auto strategy, retrain every 10 labels, audit_fraction 0.05), one
scripted annotator labeling with the true class. After every retrain_every labels the annotator
waits for the new model version (annotators are slower than a retrain; this makes each version's
figures well defined), then records, for that version:

- shown: ``model.accuracy`` of ``GET /api/status`` (the audit estimate), its 95% interval and the
  number of audit labels it rests on, as the version appears (its own audit picks are not served yet);
- cv: the old dashboard figure, cross-validated on the labels (optimistic);
- true: the same head on the same labels, scored on every still-unlabeled pool image (the
  version's predictions of the whole pool, which the server saves for the image grid).

Runs use disjoint pools (run r: test pictures r*pool .. (r+1)*pool - 1), so they are independent.
Prints the per-version table, coverage and bias after 30 audit labels, and where a target-accuracy
criterion would stop against where the true accuracy crosses it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.server.conftest.ServerProcess

from labelwise.demo import write_demo_images
from labelwise.loop.datasets import FASHION_MNIST_CLASSES, fashion_mnist_arrays
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.users import add_user
from labelwise.store.models import Image
from tests.server.conftest import ServerProcess

CLASSES = [name.replace("/", "-") for name in FASHION_MNIST_CLASSES]


def build_pool(work: Path, run: int, pool: int, backbone: str) -> tuple[Path, dict[int, int], str]:
    """A fresh project over ``pool`` demo pictures; image id -> true class position; admin token."""
    all_images = write_demo_images(work / "all-images", n=pool * (run + 1))
    images = work / f"images-{run}"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(run * pool, (run + 1) * pool):
        link = images / f"fashion-{i:05d}.png"
        if not link.exists():
            link.symlink_to(all_images / link.name)
    folder = work / f"project-{run}-{time.time_ns()}"
    project = Project.create(folder, images, backbone=backbone)
    project.add_classes(CLASSES)
    ingest_folder(project)
    token = add_user(project, "bench", "admin")
    _, _, _, test_y = fashion_mnist_arrays()
    with project.sessions() as session:
        paths = session.execute(select(Image.id, Image.path)).all()
    truth = {i: int(test_y[int(Path(p).stem.split("-")[1])]) for i, p in paths}
    project.close()
    return folder, truth, token


def wait_for_version(client: httpx.Client, after: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/api/status").json()
        if status["model"] and status["model"]["version"] > after and not status["training"]:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"no model version after {after} within {timeout} s")


def one_run(work: Path, run: int, pool: int, backbone: str, max_labels: int) -> list[dict]:
    folder, truth, token = build_pool(work, run, pool, backbone)
    server = ServerProcess(folder)
    server.start(timeout=300)
    rows: list[dict] = []
    labeled: set[int] = set()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            status = wait_for_version(client, 0)  # the cold-start ranking
            every = status["settings"]["retrain_every"]
            version = status["model"]["version"]
            while len(labeled) < max_labels:
                for item in client.post("/api/queue/next", json={"n": 1}).json()["items"]:
                    label = CLASSES[truth[item["image_id"]]]
                    r = client.post("/api/annotations", json={"image_id": item["image_id"], "label": label})
                    r.raise_for_status()
                    labeled.add(item["image_id"])
                if len(labeled) % every:
                    continue
                status = wait_for_version(client, version)
                model = status["model"]
                version = model["version"]
                saved = np.load(folder / "models" / "predictions.npz")  # this version's, written before the swap
                unlabeled = [k for k, i in enumerate(saved["image_ids"]) if int(i) not in labeled]
                ids = saved["image_ids"][unlabeled]
                true_acc = float(np.mean(saved["predicted"][unlabeled] == np.array([truth[int(i)] for i in ids])))
                rows.append({"run": run, "version": version, "labels": model["n_labels"], "true": true_acc,
                             "shown": model["accuracy"], "low": model["accuracy_low"], "high": model["accuracy_high"],
                             "audit_n": model["accuracy_n"], "cv": model["cv_accuracy_optimistic"]})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    finally:
        server.stop()
    return rows


def add_audit_totals(work: Path, rows: list[dict]) -> None:
    """Per row: the audit labels served so far (by versions before it), counted in its run's database."""
    for run in sorted({r["run"] for r in rows}):
        db = max(work.glob(f"project-{run}-*/labelwise.db"), key=lambda p: p.stat().st_mtime)
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            served = [v for (v,) in conn.execute(text("select model_version from annotations where audit"))]
        engine.dispose()
        for r in rows:
            if r["run"] == run:
                r["audit_total"] = sum(v < r["version"] for v in served)


def audit_outcomes(work: Path, rows: list[dict]) -> str:
    """Is each audit label an unbiased test of the version that served it? Compare the audit labels
    predicted right with the sum of the serving versions' true accuracies (binomial sd)."""
    hits = expected = variance = n = 0
    for run in sorted({r["run"] for r in rows}):
        db = max(work.glob(f"project-{run}-*/labelwise.db"), key=lambda p: p.stat().st_mtime)
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            served = conn.execute(text(
                "select a.model_version, a.predicted, c.name from annotations a join classes c on c.id = a.class_id "
                "where a.audit and a.predicted is not null and not a.superseded")).all()  # fmt: skip
        engine.dispose()
        true = {r["version"]: r["true"] for r in rows if r["run"] == run}
        for version, predicted, label in served:
            if version in true:
                hits, n = hits + (predicted == label), n + 1
                expected += true[version]
                variance += true[version] * (1 - true[version])
    return (f"audit labels: {n}, predicted right by their serving version: {hits}; expected from those versions' "
            f"true accuracy: {expected:.1f} ± {variance**0.5:.1f} (binomial sd)")  # fmt: skip


def first_at(rows: list[dict], key: str, target: float) -> int | None:
    return next((r["labels"] for r in rows if r[key] is not None and r[key] >= target), None)


def summarize(rows: list[dict], min_audit: int, targets: list[float]) -> str:
    lines = []
    later = [r for r in rows if r["audit_total"] >= min_audit and r["shown"] is not None]
    shown = [r for r in rows if r["shown"] is not None]
    for name, subset in ((f"versions after >= {min_audit} audit labels in all", later),
                         ("all shown audit estimates", shown)):  # fmt: skip
        if subset:
            inside = np.mean([r["low"] <= r["true"] <= r["high"] for r in subset])
            bias = np.mean([r["shown"] - r["true"] for r in subset])
            lines.append(f"{name}: {len(subset)} versions, true accuracy inside the interval in "
                         f"{100 * inside:.0f}%, mean bias {100 * bias:+.1f} points")  # fmt: skip
    with_cv = [r for r in rows if r["cv"] is not None]
    if with_cv:
        cv_bias = np.mean([r["cv"] - r["true"] for r in with_cv])
        lines.append(f"old cross-validated figure: mean bias {100 * cv_bias:+.1f} points over {len(with_cv)} versions")
    for target in targets:
        for run in sorted({r["run"] for r in rows}):
            mine = [r for r in rows if r["run"] == run]
            lines.append(f"target {target:.2f}, run {run}: true accuracy crosses at {first_at(mine, 'true', target)} "
                         f"labels; interval's lower end (stops) at {first_at(mine, 'low', target)}; "
                         f"old cv figure at {first_at(mine, 'cv', target)}")  # fmt: skip
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    out = ["| run | labels | true | shown (audit) | 95% interval | audit labels used (so far) | cv (old, optimistic) |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        shown = "too few" if r["shown"] is None else f"{r['shown']:.3f}"
        interval = "" if r["shown"] is None else f"{r['low']:.3f}–{r['high']:.3f}"
        cv = "" if r["cv"] is None else f"{r['cv']:.3f}"
        used = f"{r['audit_n']} ({r['audit_total']})"
        out.append(f"| {r['run']} | {r['labels']} | {r['true']:.3f} | {shown} | {interval} | {used} | {cv} |")
    return "\n".join(out)


def compact(rows: list[dict], at: list[int]) -> str:
    """The issue's table: per label count, each run's true accuracy, shown estimate and old cv figure."""
    runs = sorted({r["run"] for r in rows})
    out = ["| labels | true | shown (audit) [95% interval] | audit labels used | cv (old) |", "|---|---|---|---|---|"]
    for n in at:
        mine = [next((r for r in rows if r["run"] == run and r["labels"] == n), None) for run in runs]
        if any(r is None for r in mine):
            continue
        true = " / ".join(f"{r['true']:.3f}" for r in mine)
        shown = " / ".join("too few" if r["shown"] is None else
                           f"{r['shown']:.2f} [{r['low']:.2f}–{r['high']:.2f}]" for r in mine)  # fmt: skip
        used = " / ".join(str(r["audit_n"]) for r in mine)
        cv = " / ".join("—" if r["cv"] is None else f"{r['cv']:.3f}" for r in mine)
        out.append(f"| {n} | {true} | {shown} | {used} | {cv} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first-run", type=int, default=0, help="start at this run (runs in parallel, other --out)")
    parser.add_argument("--pool", type=int, default=3000, help="images per run (disjoint pools)")
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--max-labels", type=int, default=300)
    parser.add_argument("--min-audit", type=int, default=30)
    parser.add_argument("--targets", default="0.7,0.75")
    parser.add_argument("--out", type=Path, default=Path("bench-out/honest"))
    parser.add_argument("--summarize-only", action="store_true", help="re-read rows.json of an earlier run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    if args.summarize_only:
        rows = json.loads((args.out / "rows.json").read_text())
    for run in range(args.first_run, args.first_run + (0 if args.summarize_only else args.runs)):
        rows += one_run(args.out, run, args.pool, args.backbone, args.max_labels)
        (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    add_audit_totals(args.out, rows)
    summary = summarize(rows, args.min_audit, [float(t) for t in args.targets.split(",")])
    summary += "\n" + audit_outcomes(args.out, rows)
    at = [10, 20, 30, 50, 100, 150, 200, 250, 300, 400, 500, 600]
    (args.out / "table.md").write_text(compact(rows, at) + "\n\n" + summary + "\n\n" + markdown(rows) + "\n")
    print(compact(rows, at))
    print(summary)
    print(f"every version: {args.out / 'table.md'}")


if __name__ == "__main__":
    main()
