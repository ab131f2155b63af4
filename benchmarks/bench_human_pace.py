"""Issue 20's measure at full size: two annotators at human pace give 300 labels on the annotate page
(Debian's Chromium), with key holds, double taps, clicks and idle gaps past a 6 s lease.

Prints what the pages showed and what the database holds: labels on images shown under 150 ms
(must be 0), silent overwrites (must be 0), refused labels not explained on the page (must be 0).
About 4 minutes (the pace is the person's, not the machine's). The test
tests/server/test_browser_human_pace.py runs the same play with 24 labels.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from playwright.sync_api import sync_playwright

from labelwise.project.settings import update_settings
from tests.server.human_pace import play_two_annotators
from tests.server.test_browser import ARGS, CHROMIUM
from tests.utils.images import write_fashion_folder
from tests.utils.server import ServerProcess, make_project

MIN_LOOK_MS = 150


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--idle-s", type=float, default=18)
    parser.add_argument("--idle-every", type=int, default=60, help="each person idles once per this many labels")
    parser.add_argument("--lease-minutes", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "proj"
        images = write_fashion_folder(Path(tmp) / "images", per_class=max(40, args.labels // 5))
        project, tokens = make_project(folder, images)
        update_settings(project, {"lease_minutes": args.lease_minutes}, "bench")  # retrains on, as in use
        project.close()
        server = ServerProcess(folder)
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                report = play_two_annotators(browser, server.url, {"ann": tokens["ann"], "bob": tokens["bob"]},
                                             folder, labels=args.labels, idle_s=args.idle_s,
                                             idle_every=args.idle_every, seed=args.seed)  # fmt: skip
                browser.close()
        finally:
            server.stop()
    print(report.summary())
    under = sum(ms < MIN_LOOK_MS for ms in report.look_ms)
    print(f"labels on images shown < {MIN_LOOK_MS} ms: {under}")
    print(f"silent overwrites: {len(report.silent_overwrites)}; double labels: {report.double_labels}")
    print(f"refused labels: {report.refused}, unexplained on the page: {len(report.unexplained)}")
    for line in report.refusals:
        print(f"  refused: {line}")
    ok = under == 0 and not report.silent_overwrites and not report.unexplained and report.double_labels == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
