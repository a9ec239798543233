"""Grade Exercise Sheet 4 submissions: per-task points for many notebooks or modules at once.

    python -m instructor.grade [--json FILE] [--csv FILE] [--feedback DIR] [--report FILE.html]
                               [--jobs N] [--quiet] PATH...

Each PATH is a notebook (a copy of Ex4_Optimization2.ipynb with the student's
code), a Python module defining the same names as solution.py, or a folder:
then every *.ipynb and *.py file directly inside it is graded, sorted by name. Prints one
row per submission with the points of every task and the total, then the
messages of every lost point. --feedback writes one HTML page per student
(DIR/<student>.html), --report one HTML page about the whole class. Exit
status 0 when grading ran, whatever the points; 2 when it could not run (e.g.
a path does not exist) or an output file could not be written. How tasks are
isolated and scored: see grading/sandbox/__init__.py and grading/verdicts.py.
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path

from instructor.grading.core import REFERENCE_PATH, expand_paths, grade_paths
from instructor.grading.extraction import SubmissionError
from instructor.grading.report import (
    check_output_path,
    shared_ids,
    student_ids,
    table,
    to_csv,
    to_json,
    visible,
    write_atomically,
)
from instructor.grading.sandbox import GradingProcessError, Limits

EXIT_CANNOT_GRADE = 2


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="submitted .ipynb notebooks or .py modules, or folders of them (every *.ipynb and "
                             "*.py file directly inside, sorted)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the gradebook as JSON to FILE")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="write the gradebook as CSV to FILE: one row per student, id (file name without "
                             "suffix) first, then the points of each task and the total")
    parser.add_argument("--feedback", type=Path, metavar="DIR",
                        help="write one self-contained HTML feedback page per student to DIR/<student>.html")
    parser.add_argument("--report", type=Path, metavar="FILE",
                        help="write the class report (distributions, most failed checks, review flags, "
                             "grading failures) as one self-contained HTML file")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                        help="grade N submissions in parallel (default: min(4, CPU cores))")
    parser.add_argument("--task-timeout", type=float, default=Limits.task_timeout_s, metavar="SECONDS",
                        help=f"wall-clock limit per task and submission (default {Limits.task_timeout_s:g})")
    parser.add_argument("--reference", type=Path, default=REFERENCE_PATH, metavar="FILE",
                        help="the reference solution to compare with (default: solution.py)")
    parser.add_argument("--quiet", action="store_true",
                        help="show no progress (it is only shown when the output is a terminal anyway)")
    arguments = parser.parse_args(argv)
    if arguments.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {arguments.jobs}")
    if arguments.task_timeout <= 0:
        parser.error(f"--task-timeout must be positive, got {arguments.task_timeout}")
    return arguments


def error(message: str) -> None:
    """Print ``message`` on one line of stderr; paths in it may hold control characters, shown as escapes."""
    print(f"grade.py: error: {visible(message, keep_newlines=False)}", file=sys.stderr)


class Progress:
    """``graded 12/300 submissions`` on one terminal line, redrawn in place, on stderr."""

    def __init__(self, stream=None):
        self._stream, self.shown = stream, False

    @property
    def stream(self):
        return self._stream or sys.stderr

    def __call__(self, done: int, total: int) -> None:
        self.stream.write(f"\rgraded {done}/{total} submissions")
        self.stream.flush()
        self.shown = True

    def say(self, line: str) -> None:
        self.clear()
        print(line, file=self.stream)

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def shows_progress(quiet: bool) -> bool:
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


def accepted(function: Callable, **options) -> dict:
    """The ``options`` that ``function`` takes as keyword arguments."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return options
    return {name: value for name, value in options.items()
            if name in parameters and parameters[name].kind is not inspect.Parameter.POSITIONAL_ONLY}


def check_outputs(arguments: argparse.Namespace, submissions: list[Path]) -> str | None:
    """Why an output cannot be written (checked before grading, which takes long), or None."""
    for output in (arguments.json, arguments.csv, arguments.report):
        if output is None:
            continue
        try:
            check_output_path(output, submissions)
        except ValueError as exc:
            return str(exc)
        if not output.parent.is_dir():
            return f"the folder of {output} does not exist"
    if arguments.feedback is not None and arguments.feedback.exists() and not arguments.feedback.is_dir():
        return f"--feedback {arguments.feedback} is not a folder"
    return None


def write_outputs(arguments: argparse.Namespace, grades: list, submissions: list[Path], quiet: bool) -> bool:
    """Write every output asked for, the gradebook files first; False if one could not be written."""
    from instructor.grading.feedback import write_feedback  # imported here: matplotlib only for the HTML outputs

    ok = True
    for output, render in ((arguments.json, to_json), (arguments.csv, to_csv)):
        if output is None:
            continue
        try:
            write_atomically(output, render(grades), submissions)
        except (OSError, ValueError) as exc:
            error(f"could not write the gradebook: {exc}")
            ok = False
    feedback_files: list[Path] = []
    if arguments.feedback is not None:
        try:
            feedback_files = write_feedback(grades, arguments.feedback, submissions)
            if not quiet:
                print(f"grade.py: wrote {len(feedback_files)} feedback pages to {arguments.feedback}",
                      file=sys.stderr)
        except Exception as exc:  # the gradebook is written; report any failure here and go on
            error(f"could not write the feedback pages: {type(exc).__name__}: {exc}")
            ok, feedback_files = False, []
    if arguments.report is not None:
        try:
            from instructor.grading.class_report import feedback_links, render_report

            links = (feedback_links(student_ids([g.path for g in grades]), feedback_files, arguments.report)
                     if feedback_files else None)
            write_atomically(arguments.report, render_report(grades, links), submissions)
            if not quiet:
                print(f"grade.py: wrote the class report to {arguments.report}", file=sys.stderr)
        except Exception as exc:  # the gradebook is written; report any failure here and go on
            error(f"could not write the class report: {type(exc).__name__}: {exc}")
            ok = False
    return ok


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        paths = expand_paths(arguments.paths)
    except FileNotFoundError as exc:
        error(str(exc))
        return EXIT_CANNOT_GRADE
    submissions = [Path(p) for p in paths]
    problem = check_outputs(arguments, submissions)
    if problem is not None:
        error(f"{problem}; nothing was graded")
        return EXIT_CANNOT_GRADE
    for stem, group in shared_ids(paths).items():
        ids = [student for path, student in zip(paths, student_ids(paths)) if path in group]
        print(visible(f"grade.py: warning: {len(group)} submissions are named {stem!r} ({', '.join(group)}); "
                      f"the gradebook calls them {', '.join(ids)}", keep_newlines=False), file=sys.stderr)
    progress = Progress()
    options = {"say": progress.say}
    if shows_progress(arguments.quiet):
        print(f"grade.py: grading {len(paths)} submissions with {arguments.jobs} processes", file=sys.stderr)
        options["on_submission_done"] = progress
    try:
        grades = grade_paths(paths, Limits(task_timeout_s=arguments.task_timeout), arguments.jobs,
                             arguments.reference, **accepted(grade_paths, **options))
    except (FileNotFoundError, GradingProcessError, SubmissionError) as exc:
        progress.clear()
        error(str(exc))
        return EXIT_CANNOT_GRADE
    progress.clear()
    print(table(grades))
    if not write_outputs(arguments, grades, submissions, arguments.quiet):
        return EXIT_CANNOT_GRADE
    return 0


if __name__ == "__main__":
    sys.exit(main())
