"""Grading a whole class: wall time for N submissions, and what the sandbox's confinement costs.

    python -m instructor.benchmarks.class_grading [--submissions N] [--jobs J] [--rounds R] [--notebook PATH]

Copies the notebook N times into a temporary folder and grades the copies
with ``grading.core.grade_paths`` in this process, alternating R times
between grading as ``grade.py`` does (Landlock, namespaces, a user id per
task as root) and grading with only the resource limits, to show the share
of the time that confinement adds. The runs alternate (the order swapped
every round) so that the shared machine's drift hits both alike; the
fastest run of each kind is reported. Goals: 100 submissions in at most
60 s with 2 jobs, confinement adding less than 20 %.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_ROOT))

from instructor.grading.core import grade_paths  # noqa: E402
from instructor.grading.sandbox import Limits  # noqa: E402

DEFAULT_NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
GOAL_SECONDS_PER_100 = 60.0
GOAL_CONFINEMENT_SHARE = 0.20


def time_class(paths: list[str], jobs: int, confined: bool) -> float:
    start = time.perf_counter()
    grades = grade_paths(paths, Limits(), jobs, kernel_confinement=confined)
    elapsed = time.perf_counter() - start
    wrong = [g.path for g in grades if g.points != g.max_points]
    if wrong:
        raise SystemExit(f"copies of the notebook lost points: {wrong[:3]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    arguments = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="ex4-class-"))
    try:
        paths = []
        for index in range(arguments.submissions):
            path = folder / f"student_{index:03d}.ipynb"
            shutil.copyfile(arguments.notebook, path)
            paths.append(str(path))
        times: dict[bool, list[float]] = {True: [], False: []}
        for round_index in range(arguments.rounds):
            for kind in ((True, False) if round_index % 2 == 0 else (False, True)):
                times[kind].append(time_class(paths, arguments.jobs, confined=kind))
        confined, unconfined = min(times[True]), min(times[False])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    per_100 = confined * 100 / arguments.submissions
    share = confined / unconfined - 1
    print(f"{arguments.submissions} submissions, --jobs {arguments.jobs}: {confined:.1f} s confined "
          f"({per_100:.1f} s per 100; goal {GOAL_SECONDS_PER_100:g} s), {unconfined:.1f} s with limits only")
    print(f"confinement adds {share:+.0%} (goal: less than {GOAL_CONFINEMENT_SHARE:.0%}); all runs: "
          f"confined {', '.join(f'{t:.1f}' for t in times[True])} s, "
          f"limits only {', '.join(f'{t:.1f}' for t in times[False])} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
