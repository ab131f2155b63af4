"""Mutation testing: do the tests catch a *wrong* algorithm, not only a crash? (``make mutation``)

Runs mutmut (configured in pyproject.toml, ``[tool.mutmut]``) over the strategies, the stopping
criteria, the active loop, the annotation queue and the settings, and ends with one line::

    mutation score: NN.N% (K killed of M)

Mutants listed in ``tools/mutation_equivalent.txt`` (each with its reason) are neither run nor
counted. To fit in under an hour on two cores, a module with more than ``--cap`` mutants is
sampled: ``--cap`` of them, evenly spaced over its functions, the same ones on every run.
``--cap 0`` runs them all.

Usage: python tools/mutation.py [--cap 40] [--max-children 2] [--only labelwise.loop.stopping]
       python tools/mutation.py --report   # the table of the last run, also of an interrupted one
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tools" / "mutation_equivalent.txt"
KILLED = {"killed", "caught by type check"}
# A mutant that ran past its time limit is not counted either way: on a loaded machine a worker
# can hang after the fork whether or not a test failed, so a timeout decides nothing.
UNDECIDED = {"timeout", "segfault", "suspicious"}
# Not run at all (an interrupted run, or a machine too loaded to get to them): not survivors.
NOT_RUN = {None, "not checked"}
RESULT = re.compile(r"^\s+(\S+): (.+)$")


def mutmut(*args: str, check: bool = True) -> str:
    command = [str(Path(sys.executable).parent / "mutmut"), *args]
    # One BLAS/OpenMP thread per worker: two workers already fill two cores, and threads started
    # before mutmut forks its workers can deadlock them (a hang then reads as a "timeout").
    threads = ("OMP", "OPENBLAS", "MKL", "NUMEXPR")
    env = {**os.environ, **dict.fromkeys([f"{t}_NUM_THREADS" for t in threads] + ["VECLIB_MAXIMUM_THREADS"], "1")}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} ... failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def results() -> dict[str, str]:
    """Every mutant mutmut knows, with its status (``killed``, ``survived``, ``not checked``...)."""
    out = {}
    for line in mutmut("results", "--all", "true").splitlines():
        match = RESULT.match(line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


def module_of(mutant: str) -> str:
    return re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]


def number_of(mutant: str) -> int:
    return int(mutant.rsplit("__mutmut_", 1)[1])


def equivalent_mutants() -> dict[str, str]:
    """``name -> reason`` from the equivalents file (``name  # reason`` per line)."""
    out = {}
    for line in EQUIVALENT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition("#")
            if not reason.strip():
                sys.exit(f"{EQUIVALENT}: {name.strip()} has no reason")
            out[name.strip()] = reason.strip()
    return out


def sample(names: list[str], cap: int) -> list[str]:
    """``cap`` of ``names`` evenly spaced in (function, number) order: every function is represented."""
    names = sorted(names, key=lambda n: (n.rsplit("__mutmut_", 1)[0], number_of(n)))
    if cap <= 0 or len(names) <= cap:
        return names
    step = len(names) / cap
    return [names[int(i * step)] for i in range(cap)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=int, default=40, help="most mutants per module (0: all)")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--only", action="append", default=[], help="module(s) to run, e.g. labelwise.loop.stopping")
    parser.add_argument("--report", action="store_true", help="only print the table of the results in mutants/")
    args = parser.parse_args()
    if not args.report:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        # Generate the mutants and map tests to functions, running a single mutant.
        print("generating mutants and mapping tests to functions ...", flush=True)
        mutmut("run", "--max-children", str(args.max_children), "labelwise.loop.stopping.xǁLabelBudgetǁcheck__mutmut_1")
    known = results()
    equivalent = equivalent_mutants()
    for name in sorted(set(equivalent) - set(known)):
        print(f"warning: {EQUIVALENT.name} lists {name}, which mutmut no longer generates", file=sys.stderr)
    by_module: dict[str, list[str]] = defaultdict(list)
    for name in known:
        if name not in equivalent and (not args.only or module_of(name) in args.only):
            by_module[module_of(name)].append(name)
    chosen = [name for names in by_module.values() for name in sample(names, args.cap)]
    if not args.report:
        print(f"running {len(chosen)} mutants of {sum(map(len, by_module.values()))} "
              f"({len(equivalent)} equivalent excluded) on {args.max_children} cores ...", flush=True)  # fmt: skip
        mutmut("run", "--max-children", str(args.max_children), *chosen, check=False)
    status = results()
    if args.report:  # the last run, finished or not: count what it checked
        chosen = [n for names in by_module.values() for n in names if status.get(n) not in (None, "not checked")]
    not_run = [n for n in chosen if status.get(n) in NOT_RUN]
    chosen = [n for n in chosen if n not in not_run]
    rows = []
    for module in sorted(by_module):
        names = [n for n in chosen if module_of(n) == module]
        undecided = [n for n in names if status.get(n) in UNDECIDED]
        decided = [n for n in names if n not in undecided]
        killed = sum(status.get(n) in KILLED for n in decided)
        rows.append((module, killed, len(decided), len(undecided)))
        print(f"{module:40s} {100 * killed / max(len(decided), 1):5.1f}% ({killed} of {len(decided)}; "
              f"{len(undecided)} timed out; {len(by_module[module])} generated)")  # fmt: skip
        for name in decided:
            if status.get(name) not in KILLED:
                print(f"    {status.get(name)}: {name}")
    killed, total, undecided_total = (sum(r[i] for r in rows) for i in (1, 2, 3))
    if undecided_total:
        print(f"{undecided_total} mutants timed out and are counted neither way")
    if not_run:
        print(f"{len(not_run)} sampled mutants were not run (interrupted): the score covers the others only")
    print(f"mutation score: {100 * killed / max(total, 1):.1f}% ({killed} killed of {total})")


if __name__ == "__main__":
    main()
