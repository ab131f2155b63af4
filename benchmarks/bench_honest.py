"""Honest numbers (issue 19): the dashboard's audit estimate against the model's true accuracy.

End to end through a real ``labelwise serve``: a pool of 10,000 Fashion-MNIST pictures (run 0: the
demo's own pool), default settings (auto strategy, retrain every 10 labels, audit_fraction 0.05), one
scripted annotator labeling with the true class. After every retrain_every labels the annotator
waits for the new model version (annotators are slower than a retrain; this makes each version's
figures well defined), then records, for that version:

- shown: ``model.accuracy`` of ``GET /api/status`` (the audit estimate), its 95% interval and the
  number of audit labels it rests on, as the version appears (its own audit picks are not served yet);
- cv: the old dashboard figure, cross-validated on the labels (optimistic);
- true: the same head on the same labels, scored on every still-unlabeled pool image (the
  version's predictions of the whole pool, which the server saves for the image grid).

Runs use disjoint pools (:func:`pool_pictures`), so they are independent; each pool is embedded
once (``--out``/pools) and copied fresh per run. Runs may go side by side (``--first-run R --runs 1``
in separate processes, same ``--out``); ``--summarize-only`` then reads every run's rows. Prints the
per-version table, coverage and bias after ``--min-audit`` audit labels, the confidence-based
estimators beside the audit estimate, where a target-accuracy criterion would stop against where the
true accuracy crosses it, and how many audit labels a stop 10 labels after the crossing would need.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image as PILImage
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.server.conftest.ServerProcess

from labelwise.loop.datasets import FASHION_MNIST_CLASSES, fashion_mnist_arrays
from labelwise.project import Project
from labelwise.project.ingest import ingest_folder
from labelwise.project.users import add_user
from labelwise.store.models import Image
from tests.utils.server import ServerProcess

CLASSES = [name.replace("/", "-") for name in FASHION_MNIST_CLASSES]


def pool_pictures(run: int, pool: int) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Run 0: the demo's own pool (the first ``pool`` test pictures, as ``labelwise demo`` builds it);
    run r > 0: training pictures ``(r - 1) * pool`` onwards, so that runs are independent (the server's
    seed is fixed, so the same pool would give the same run). Pictures, true classes, file name prefix
    and the first picture's number in its set."""
    train_x, train_y, test_x, test_y = fashion_mnist_arrays()
    if run == 0:
        return test_x[:pool], test_y[:pool], "fashion", 0
    start = (run - 1) * pool
    if start + pool > len(train_x):
        raise SystemExit(f"--pool {pool}: not enough training pictures for run {run}")
    return train_x[start : start + pool], train_y[start : start + pool], "fashion-train", start


def build_pool(work: Path, run: int, pool: int, backbone: str) -> tuple[Path, dict[int, int], str]:
    """A fresh copy of run ``run``'s ingested project (built and embedded once, then reused: the
    embedding is the slow part); image id -> true class position; admin token."""
    pictures, classes, prefix, first = pool_pictures(run, pool)
    built = work / "pools" / f"run{run}-{pool}-{backbone}"
    if not (built / "done").exists():
        images = work / "pools" / f"images-run{run}-{pool}"
        images.mkdir(parents=True, exist_ok=True)
        for i, picture in enumerate(pictures):
            path = images / f"{prefix}-{first + i:05d}.png"
            if not path.exists():
                PILImage.fromarray(picture).save(path)
        shutil.rmtree(built, ignore_errors=True)
        project = Project.create(built, images, backbone=backbone)
        project.add_classes(CLASSES)
        started = time.perf_counter()
        ingest_folder(project)
        project.close()
        print(f"run {run}: {pool} pictures ingested and embedded ({backbone}) in {time.perf_counter() - started:.0f} s",
              flush=True)  # fmt: skip
        (built / "done").touch()
    folder = work / f"project-{run}-{time.time_ns()}"
    shutil.copytree(built, folder, ignore=lambda _, names: [n for n in names if n in ("labelwise.lock", "done")])
    project = Project(folder)
    token = add_user(project, "bench", "admin")
    with project.sessions() as session:
        paths = session.execute(select(Image.id, Image.path)).all()
    truth = {i: int(classes[int(Path(p).stem.rsplit("-", 1)[1]) - first]) for i, p in paths}
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
    (work / "versions").mkdir(exist_ok=True)
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
                np.savez(work / "versions" / f"run{run}-v{version}.npz", image_ids=ids,
                         predicted=saved["predicted"][unlabeled], confidence=saved["confidence"][unlabeled],
                         truth=np.array([truth[int(i)] for i in ids]))  # fmt: skip
                rows.append({"run": run, "version": version, "labels": model["n_labels"], "true": true_acc,
                             "shown": model["accuracy"], "low": model["accuracy_low"], "high": model["accuracy_high"],
                             "audit_n": model["accuracy_n"], "cv": model["cv_accuracy_optimistic"]})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
                (work / f"rows-run{run}.json").write_text(json.dumps(rows, indent=1))  # a stopped run keeps its rows
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


def audit_rows(work: Path, run: int) -> list[tuple[int, int, float]]:
    """A run's audit labels oldest first: serving version, predicted right (0/1), the serving
    version's confidence in its prediction (stored at lease time)."""
    db = max(work.glob(f"project-{run}-*/labelwise.db"), key=lambda p: p.stat().st_mtime)
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        served = conn.execute(text(
            "select a.model_version, a.predicted = c.name, a.predicted_p from annotations a "
            "join classes c on c.id = a.class_id where a.audit and a.predicted is not null "
            "and not a.superseded order by a.id")).all()  # fmt: skip
    engine.dispose()
    return [(int(v), int(right), float(p)) for v, right, p in served]


def confidence_estimators(work: Path, rows: list[dict]) -> None:
    """Per row, estimators that use the pool's predicted confidences (saved per version), anchored on
    the audit labels served by earlier versions (as the shown estimate, which uses no later label):

    - conf: the mean confidence of the version over the unlabeled pool (no label used; no interval);
    - diff: conf plus the audit labels' mean (right - confidence of the serving version): the
      difference estimator of survey sampling, prediction-powered inference's rectifier
      (Angelopoulos et al. 2023), with a normal 95% interval; it assumes the calibration gap is the
      same for every version (``diff_low``, ``diff_high``);
    - atc: Average Thresholded Confidence (Garg et al. 2022): the threshold at which the audit picks'
      share above it equals their accuracy; the estimate is the pool's share above it (no interval).
    """
    for run in sorted({r["run"] for r in rows}):
        audit = np.array(audit_rows(work, run), dtype=float).reshape(-1, 3)
        for r in (r for r in rows if r["run"] == run):
            saved = np.load(work / "versions" / f"run{run}-v{r['version']}.npz")
            confidence = saved["confidence"]
            r["conf"] = float(confidence.mean())
            before = audit[audit[:, 0] < r["version"]]
            r["diff"] = r["diff_low"] = r["diff_high"] = r["atc"] = None
            if len(before) < 10:
                continue
            gap = before[:, 1] - before[:, 2]
            half = 1.959964 * gap.std(ddof=1) / np.sqrt(len(gap))
            r["diff"] = float(np.clip(r["conf"] + gap.mean(), 0, 1))
            r["diff_low"] = float(np.clip(r["conf"] + gap.mean() - half, 0, 1))
            r["diff_high"] = float(np.clip(r["conf"] + gap.mean() + half, 0, 1))
            # ATC: the (1 - accuracy) quantile of the audit picks' confidences
            threshold = np.quantile(before[:, 2], 1 - before[:, 1].mean())
            r["atc"] = float(np.mean(confidence > threshold))


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
    for name, subset in ((f"after >= {min_audit} audit labels", [r for r in later if r.get("diff") is not None]),
                         ("all with >= 10 audit labels", [r for r in rows if r.get("diff") is not None])):  # fmt: skip
        if subset:
            inside = np.mean([r["diff_low"] <= r["true"] <= r["diff_high"] for r in subset])
            over = np.mean([r["diff_low"] > r["true"] for r in subset])
            width = np.mean([r["diff_high"] - r["diff_low"] for r in subset])
            lines.append(
                f"confidence estimators, {name} ({len(subset)} versions): diff inside {100 * inside:.0f}%, lower end "
                f"above the truth {100 * over:.0f}%, mean width {100 * width:.1f} points, bias "
                f"{100 * np.mean([r['diff'] - r['true'] for r in subset]):+.1f}; conf bias "
                f"{100 * np.mean([r['conf'] - r['true'] for r in subset]):+.1f}; atc bias "
                f"{100 * np.mean([r['atc'] - r['true'] for r in subset]):+.1f}; shown (trend) mean width "
                f"{100 * np.mean([r['high'] - r['low'] for r in subset if r['low'] is not None]):.1f}"
            )
    with_cv = [r for r in rows if r["cv"] is not None]
    if with_cv:
        cv_bias = np.mean([r["cv"] - r["true"] for r in with_cv])
        lines.append(f"old cross-validated figure: mean bias {100 * cv_bias:+.1f} points over {len(with_cv)} versions")
    for target in targets:
        for run in sorted({r["run"] for r in rows}):
            mine = [r for r in rows if r["run"] == run]
            lines.append(f"target {target:.2f}, run {run}: true accuracy crosses at {first_at(mine, 'true', target)} "
                         f"labels; interval's lower end (stops) at {first_at(mine, 'low', target)}; "
                         f"diff's lower end at {first_at(mine, 'diff_low', target)}; "
                         f"point estimates: shown {first_at(mine, 'shown', target)}, "
                         f"diff {first_at(mine, 'diff', target)}, "
                         f"atc {first_at(mine, 'atc', target)}, conf {first_at(mine, 'conf', target)}; "
                         f"old cv figure at {first_at(mine, 'cv', target)}")  # fmt: skip
            crossing = first_at(mine, "true", target)
            later = [r for r in mine if crossing is not None and r["labels"] == crossing + 10]
            if later and later[0]["true"] > target:
                p = later[0]["true"]  # to stop 10 labels after the crossing, z sqrt(p(1-p)/m) <= p - target
                lines.append(f"  to stop by {crossing + 10} labels (true {p:.3f}) an interval needs about "
                             f"{(1.959964 / (p - target)) ** 2 * p * (1 - p):,.0f} audit labels; there are "
                             f"{later[0]['audit_total']} by then")  # fmt: skip
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    out = ["| run | labels | true | shown (audit) | 95% interval | audit labels used (so far) | cv (old, optimistic) "
           "| conf | diff [95%] | atc |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        shown = "too few" if r["shown"] is None else f"{r['shown']:.3f}"
        interval = "" if r["shown"] is None else f"{r['low']:.3f}–{r['high']:.3f}"
        cv = "" if r["cv"] is None else f"{r['cv']:.3f}"
        used = f"{r['audit_n']} ({r['audit_total']})"
        diff = "" if r.get("diff") is None else f"{r['diff']:.3f} [{r['diff_low']:.3f}–{r['diff_high']:.3f}]"
        atc = "" if r.get("atc") is None else f"{r['atc']:.3f}"
        conf = "" if r.get("conf") is None else f"{r['conf']:.3f}"
        out.append(f"| {r['run']} | {r['labels']} | {r['true']:.3f} | {shown} | {interval} | {used} | {cv} "
                   f"| {conf} | {diff} | {atc} |")  # fmt: skip
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
    parser.add_argument("--first-run", type=int, default=0, help="start at this run (the others' rows are kept)")
    parser.add_argument("--pool", type=int, default=10_000, help="images per run (disjoint pools; 10,000 as the demo)")
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--max-labels", type=int, default=300)
    parser.add_argument("--min-audit", type=int, default=30)
    parser.add_argument("--targets", default="0.7,0.75,0.8")
    parser.add_argument("--out", type=Path, default=Path("bench-out/honest"))
    parser.add_argument("--summarize-only", action="store_true", help="only summarize the rows of earlier runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = range(args.first_run, args.first_run + (0 if args.summarize_only else args.runs))
    for run in runs:  # one file of rows per run: runs may be made one at a time, or side by side
        one_run(args.out, run, args.pool, args.backbone, args.max_labels)
    rows = [r for path in sorted(args.out.glob("rows-run*.json")) for r in json.loads(path.read_text())]
    add_audit_totals(args.out, rows)
    confidence_estimators(args.out, rows)
    summary = summarize(rows, args.min_audit, [float(t) for t in args.targets.split(",")])
    summary += "\n" + audit_outcomes(args.out, rows)
    at = [10, 20, 30, 50, 100, 150, 200, 250, 300, 400, 500, 600]
    (args.out / "table.md").write_text(compact(rows, at) + "\n\n" + summary + "\n\n" + markdown(rows) + "\n")
    print(compact(rows, at))
    print(summary)
    print(f"every version: {args.out / 'table.md'}")


if __name__ == "__main__":
    main()
