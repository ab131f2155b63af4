"""Where ``target_accuracy`` can stop, by ``audit_fraction``: a simulation of the audit estimate alone.

The true accuracy follows a learning curve like the demo's (``--curve``: 0.87 - 0.5 (n/10)^-0.6,
0.68 at 50 labels, 0.80 at 300). Every ``retrain_every`` labels a model version appears; each
audit label is right with the true accuracy of the version that served it. The criterion is the
product's (lower end of the 95% interval of :func:`labelwise.loop.audit.accuracy_estimate`); also
shown: stopping on the estimate itself once it rests on ``--min-audit`` labels, and how often that
stops where the truth is still below the target (it overstates); and the audit labels any interval
would need for its lower end to reach the target within ``--within`` labels of the crossing.
"""

from __future__ import annotations

import argparse

import numpy as np

from labelwise.loop.audit import accuracy_estimate, audit_count


def true_accuracy(n: np.ndarray | int) -> np.ndarray:
    return 0.87 - 0.5 * (np.asarray(n, dtype=float) / 10.0) ** -0.6


def labels_needed(target: float, crossing: int, within: int) -> float:
    """Audit labels (all served by the version at ``crossing + within``) for the lower end of a 95%
    interval to reach ``target`` there in the median case: the half-width ``z sqrt(p (1 - p) / m)``
    must fit in the curve's rise above the target, ``p - target`` with ``p`` the true accuracy at
    ``crossing + within``. A bound, not a rule: older versions' labels count for less, and an
    estimator that adds the pool's confidences (a control variate) divides ``m`` by
    ``var(right) / var(right - confidence)``, which was about 1 on the demo (docs/honest.md)."""
    p = float(true_accuracy(crossing + within))
    return (1.959964 / (p - target)) ** 2 * p * (1 - p)


def first_stop(served: np.ndarray, right: np.ndarray, target: float, max_labels: int, batch: int,
               min_audit: int) -> tuple[float, float]:  # fmt: skip
    """Labels at which the lower end, and the estimate once it rests on ``min_audit`` audit labels,
    first reach ``target`` (``inf``: never). ``served``: per audit label, the labels its serving
    version was trained on (sorted); ``right``: whether that version predicted it right."""
    stop_low = stop_value = np.inf
    for n in range(2 * batch, max_labels + 1, batch):
        k = int(np.searchsorted(served, n, side="left"))  # audit labels served by versions before n
        est = accuracy_estimate(served[:k], right[:k], np.ones(k, dtype=int), n)
        if est.measured:
            if stop_low == np.inf and est.low >= target:
                stop_low = n
            if stop_value == np.inf and est.n >= min_audit and est.value >= target:
                stop_value = n
        if np.isfinite(stop_low) and np.isfinite(stop_value):
            break
    return stop_low, stop_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", default="0.05,0.1,0.2,0.5,1.0")
    parser.add_argument("--targets", default="0.7,0.75")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--max-labels", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10, help="retrain_every")
    parser.add_argument("--min-audit", type=int, default=30)
    parser.add_argument("--within", type=int, default=10, help="labels after the crossing, for the bound")
    args = parser.parse_args()
    for target in [float(t) for t in args.targets.split(",")]:
        crossing = int(np.argmax(true_accuracy(np.arange(1, args.max_labels + 1)) >= target)) + 1
        needed = labels_needed(target, crossing, args.within)
        print(f"target {target}: the truth crosses at {crossing} labels; for the lower end to reach it by "
              f"{crossing + args.within} an interval needs about {needed:,.0f} audit labels; one per "
              f"{args.batch} labels gives {crossing // args.batch} by then")  # fmt: skip
    grid = np.arange(1, args.max_labels + 1)
    print("| audit_fraction | target | true crossing | lower end reaches it (median [10%-90%]) "
          "| estimate >= target with >= min audit (median) | that one stops below the truth |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for fraction in [float(f) for f in args.fractions.split(",")]:
        for target in [float(t) for t in args.targets.split(",")]:
            crossing = int(grid[true_accuracy(grid) >= target][0])
            rng = np.random.default_rng(0)
            lows, values, early = [], [], 0
            for _ in range(args.streams):
                # The version trained on n labels serves the next batch (no model before 10 labels).
                served = np.repeat(
                    np.arange(args.batch, args.max_labels, args.batch), audit_count(fraction, args.batch)
                )
                right = (rng.random(served.size) < true_accuracy(served)).astype(int)
                low, value = first_stop(served, right, target, args.max_labels, args.batch, args.min_audit)
                lows.append(low)
                values.append(value)
                early += bool(np.isfinite(value) and true_accuracy(value) < target)
            q = np.percentile(lows, [50, 10, 90], method="inverted_cdf")  # inf stays inf
            shown = " ".join("never" if not np.isfinite(x) else str(int(x)) for x in q)
            med_value = np.percentile(values, 50, method="inverted_cdf")
            print(
                f"| {fraction} | {target} | {crossing} | {shown.replace(' ', ' [', 1)}] "
                f"| {'never' if not np.isfinite(med_value) else int(med_value)} | {early / args.streams:.0%} |"
            )


if __name__ == "__main__":
    main()
