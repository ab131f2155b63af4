"""Overlap with a simulated team: does the agreement the dashboard shows rank people by their error rate,
and what does serving second opinions cost per label?

Protocol (issue 13): a real SQLite project (no embeddings needed: the queue's unranked order), N
images with a true class each (10 classes, drawn per seed), five people with known error rates
(2%, 10%, 20%, 30%, 45%; a wrong label is a uniformly drawn other class). They take turns in a
seeded random order, each asking the queue for 2 items and labeling them, through the same
project-layer calls the server makes (``lease_next``, ``annotate``), until the queue is empty.
Then ``agreement_status`` (what /api/status and the dashboard show) gives Fleiss' kappa and each
person's agreement with the others' majority. The baseline in the same run is overlap 0 (every
image labeled once): milliseconds per served label of the two runs, and their ratio.

    nice -n 10 python benchmarks/bench_overlap.py --images 300 --seeds 3 --out /tmp/overlap
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from labelwise.project import Project
from labelwise.project.queue import annotate, lease_next
from labelwise.project.settings import update_settings
from labelwise.project.users import add_user
from labelwise.project.votes import agreement_status
from labelwise.store.models import STATUS_OK, Image, User

CLASSES = [f"c{k}" for k in range(10)]
ERROR = {"p02": 0.02, "p10": 0.10, "p20": 0.20, "p30": 0.30, "p45": 0.45}


def run(n_images: int, overlap: float, per_image: int, seed: int) -> dict:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        project = Project.create(root / "proj", root / "images", backbone="squeezenet")
        project.add_classes(CLASSES)
        with project.sessions.begin() as session:
            session.add_all(Image(path=f"s{seed}/{i}.png", content_hash=f"{seed:08x}{i:056x}", status=STATUS_OK)
                            for i in range(n_images))  # fmt: skip
        for name in ERROR:
            add_user(project, name, "annotator")
        update_settings(project, {"overlap": overlap, "labels_per_overlap_image": per_image}, "bench")
        with project.sessions() as session:
            people = {u.name: u for u in session.scalars(select(User))}
            truth = {i: rng.randrange(len(CLASSES)) for i in session.scalars(select(Image.id))}
        served = opinions = 0
        start = time.perf_counter()
        while True:
            round_served = 0
            for name in rng.sample(list(ERROR), len(ERROR)):
                for item in lease_next(project, people[name], 2, None, 10.0):
                    k = truth[item.image_id]
                    if rng.random() < ERROR[name]:
                        k = rng.choice([c for c in range(len(CLASSES)) if c != k])
                    annotate(project, people[name], item.image_id, CLASSES[k], None, queued=True)
                    round_served += 1
                    opinions += item.strategy == "second opinion"
            served += round_served
            if not round_served:
                break
        seconds = time.perf_counter() - start
        status = agreement_status(project)
        project.close()
    return {"seed": seed, "overlap": overlap, "labels_per_overlap_image": per_image, "served": served,
            "second_opinions": opinions, "ms_per_label": 1000 * seconds / served, "status": status}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--overlap", type=float, default=1.0)
    parser.add_argument("--per-image", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/overlap"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(args.seeds):
        base = run(args.images, 0.0, args.per_image, seed)
        over = run(args.images, args.overlap, args.per_image, seed)
        order = [a["name"] for a in over["status"]["annotators"]]
        rows.append({"seed": seed, "baseline": base, "overlap": over, "order": order,
                     "right_order": order == list(ERROR)})  # fmt: skip
        people = ", ".join(f"{a['name']} {a['agreement']:.3f} ({a['n_images']})" for a in over["status"]["annotators"])
        print(f"seed {seed}: Fleiss kappa {over['status']['kappa']:.3f} on {over['status']['kappa_images']} images; "
              f"{people}; order right: {order == list(ERROR)}; disputed {over['status']['disputed']}; "
              f"served {over['served']} ({over['second_opinions']} second opinions) at {over['ms_per_label']:.1f} ms "
              f"per label against {base['ms_per_label']:.1f} ms with no overlap "
              f"(ratio {over['ms_per_label'] / base['ms_per_label']:.2f})")  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
