"""Grading one submission vs executing its notebook, side by side on this machine.

    python -m instructor.benchmarks.grading_speed [--notebook PATH] [--repeat N] [--jobs N] [--skip-notebook SECONDS]

Times ``python -m instructor.grade NOTEBOOK`` (a fresh interpreter: start-up,
torch import and all six tasks included; ``--jobs`` as the grader's default
unless given) ``--repeat`` times and takes the median (goal: at most
``GOAL_ONE_SUBMISSION_S``), then executes the same notebook once with
nbclient (the full MNIST training, minutes), and prints both and their
ratio. The goal is a ratio of at least 15. ``--skip-notebook SECONDS`` reuses
a notebook time measured before instead of executing it again.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
REQUIRED_RATIO = 15
# one submission graded alone, as every platform submission is
GOAL_ONE_SUBMISSION_S = 6.0
# generous: the notebook trains ten models on MNIST
NOTEBOOK_TIMEOUT_S = 3600


def time_grading(notebook: Path, jobs: int | None) -> float:
    """Wall seconds of one ``grade.py`` run on ``notebook``; fails if grading failed."""
    start = time.perf_counter()
    jobs_option = ["--jobs", str(jobs)] if jobs is not None else []
    completed = subprocess.run([sys.executable, "-m", "instructor.grade", *jobs_option, str(notebook)],
                               cwd=PROJECT_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"grade.py failed (exit {completed.returncode}):\n{completed.stderr}")
    return elapsed


def time_notebook(notebook: Path) -> float:
    """Wall seconds to execute ``notebook`` top to bottom in a fresh kernel (outputs discarded)."""
    contents = nbformat.read(notebook, as_version=4)
    client = NotebookClient(contents, timeout=NOTEBOOK_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(PROJECT_ROOT)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--repeat", type=int, default=3, help="grading runs; the median is reported")
    parser.add_argument("--jobs", type=int, help="grade.py's --jobs (default: grade.py's own default)")
    parser.add_argument("--skip-notebook", type=float, metavar="SECONDS",
                        help="use this notebook execution time instead of executing the notebook")
    arguments = parser.parse_args(argv)
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    grading = [time_grading(arguments.notebook, arguments.jobs) for _ in range(arguments.repeat)]
    grading_s = statistics.median(grading)
    meets = "meets" if grading_s <= GOAL_ONE_SUBMISSION_S else "misses"
    print(f"grading one submission: {grading_s:.1f} s (median of {', '.join(f'{t:.1f}' for t in grading)}; "
          f"{meets} the goal of {GOAL_ONE_SUBMISSION_S:g} s)")
    if arguments.skip_notebook is not None:
        notebook_s = arguments.skip_notebook
        print(f"executing the notebook: {notebook_s:.1f} s (given with --skip-notebook)")
    else:
        notebook_s = time_notebook(arguments.notebook)
        print(f"executing the notebook: {notebook_s:.1f} s (nbclient)")
    ratio = notebook_s / grading_s
    verdict = "meets" if ratio >= REQUIRED_RATIO else "misses"
    print(f"ratio: {ratio:.1f}x ({verdict} the required {REQUIRED_RATIO}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
