"""Grade Exercise Sheet 4 submissions: per-task points for many notebooks or modules at once.

    python grade.py [--json FILE] [--csv FILE] [--jobs N] PATH...

Each PATH is a notebook (a copy of Ex4_Optimization2.ipynb with the student's
code), a Python module defining the same names as solution.py, or a folder:
then every *.ipynb and *.py file directly inside it is graded, sorted by name. Prints one
row per submission with the points of every task and the total, then the
messages of every lost point. Exit status 0 when grading ran, whatever the
points; 2 when it could not run (e.g. a path does not exist). How tasks are
isolated and scored: see grading/sandbox.py and grading/verdicts.py.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grading.core import REFERENCE_PATH, expand_paths, grade_paths
from grading.report import table, to_csv, to_json, write_atomically
from grading.extract import SubmissionError
from grading.sandbox import GradingProcessError, Limits

EXIT_CANNOT_GRADE = 2


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="submitted .ipynb notebooks or .py modules, or folders of them (every *.ipynb and "
                             "*.py file directly inside, sorted)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the gradebook as JSON to FILE")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write one CSV row per submission to FILE")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                        help="grade N submissions in parallel (default: min(4, CPU cores))")
    parser.add_argument("--task-timeout", type=float, default=Limits.task_timeout_s, metavar="SECONDS",
                        help=f"wall-clock limit per task and submission (default {Limits.task_timeout_s:g})")
    parser.add_argument("--reference", type=Path, default=REFERENCE_PATH, metavar="FILE",
                        help="the reference solution to compare with (default: solution.py)")
    arguments = parser.parse_args(argv)
    if arguments.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {arguments.jobs}")
    if arguments.task_timeout <= 0:
        parser.error(f"--task-timeout must be positive, got {arguments.task_timeout}")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        paths = expand_paths(arguments.paths)
    except FileNotFoundError as exc:
        print(f"grade.py: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    submissions = [Path(p) for p in paths]
    for output in (arguments.json, arguments.csv):
        if output is not None and any(output.resolve() == s.resolve() for s in submissions):
            print(f"grade.py: error: {output} is a submission; choose another output file", file=sys.stderr)
            return EXIT_CANNOT_GRADE
    try:
        grades = grade_paths(paths, Limits(task_timeout_s=arguments.task_timeout), arguments.jobs,
                             arguments.reference)
    except (FileNotFoundError, GradingProcessError, SubmissionError) as exc:
        print(f"grade.py: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    print(table(grades))
    try:
        if arguments.json is not None:
            write_atomically(arguments.json, to_json(grades), submissions)
        if arguments.csv is not None:
            write_atomically(arguments.csv, to_csv(grades), submissions)
    except (OSError, ValueError) as exc:
        print(f"grade.py: error: could not write the gradebook: {exc}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    return 0


if __name__ == "__main__":
    sys.exit(main())
