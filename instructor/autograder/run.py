"""What ``run_autograder`` runs on Gradescope: grade ``submission/``, write ``results/results.json``.

    python -m instructor.autograder.run [--root DIR]

``DIR`` (default ``$AUTOGRADER_ROOT``, else ``/autograder``) holds
``submission/`` (the student's files, as Gradescope puts them) and
``results/``. The submission is graded by the same ``grade_paths`` as
``python -m instructor.grade``, its code confined as there; Gradescope runs
this as root, so every task process gets a user id of its own. The exit
status is 0 whenever results.json was written, whatever the points.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from instructor.autograder.results import (
    check_tables,
    choose_submission,
    gradescope_results,
    nothing_to_grade,
)
from instructor.grading.core import grade_paths
from instructor.grading.report import to_json, write_atomically
from instructor.grading.sandbox import Limits

DEFAULT_ROOT = "/autograder"
ROOT_VARIABLE = "AUTOGRADER_ROOT"
# two task processes at a time: Gradescope's default container has 2 CPUs
MAX_JOBS = 2
GRADER_FAILURE = ("The autograder itself failed on this submission (a problem of the grader, not of your code). "
                  "Your instructor can see what happened; submit again later or ask them.")


def results_for(root: Path) -> dict:
    """Grade ``root/submission`` and return results.json's content (execution_time not yet set)."""
    tables = check_tables()
    choice = choose_submission(root / "submission")
    print(choice.note)
    if choice.path is None:
        return nothing_to_grade(choice.note, tables)
    jobs = max(1, min(MAX_JOBS, os.cpu_count() or 1))
    grades = grade_paths([str(choice.path)], Limits(), jobs, say=print)
    entry = json.loads(to_json(grades))["submissions"][0]
    print(json.dumps(entry, indent=2))
    return gradescope_results(entry, tables, choice.note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_VARIABLE, DEFAULT_ROOT)),
                        help=f"the autograder folder (default ${ROOT_VARIABLE}, else {DEFAULT_ROOT})")
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    results_dir = arguments.root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    try:
        results = results_for(arguments.root)
    except Exception:  # noqa: BLE001 -- any failure of the grader still gives the student a results.json
        traceback.print_exc(file=sys.stdout)
        results, status = {"score": 0, "output": GRADER_FAILURE, "stdout_visibility": "hidden", "tests": []}, 1
    results["execution_time"] = round(time.monotonic() - started)
    write_atomically(results_dir / "results.json", json.dumps(results, indent=2) + "\n")
    print(f"results written: {results['score']} points in {results['execution_time']} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
