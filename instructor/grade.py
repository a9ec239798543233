"""Grade Exercise Sheet 4 submissions: per-task points for many notebooks or modules at once.

    python -m instructor.grade [--json FILE] [--csv FILE] [--feedback DIR] [--report FILE.html]
                               [--seed N] [--layout nbgrader|canvas|moodle|flat] [--overrides FILE.csv]
                               [--roster FILE.csv --lms canvas|moodle --lms-csv FILE] [--jobs N] [--quiet] PATH...

Each PATH is a notebook (a copy of Ex4_Optimization2.ipynb with the student's
code), a Python module defining the same names as solution.py, or a folder,
searched recursively; the student ids come from the folder's layout (nbgrader,
Canvas or Moodle bulk download, else the file names; see grading/layouts.py).
Prints one row per submission with the points of every task and the total,
then the messages of every lost point. --feedback writes one HTML page per
student (DIR/<student>.html), --report one HTML page about the whole class,
--json the gradebook with a record of the run (its seed among others: --seed
grades again with the same inputs). Exit status 0 when grading ran, whatever
the points; 2 when it could not run (e.g. a path does not exist, a bad
--overrides or --roster file) or an output file could not be written. How
tasks are isolated and scored: see grading/sandbox/__init__.py and grading/verdicts.py.
More: docs/grading-options.md.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from instructor.grading.core import REFERENCE_PATH, SEED_RANGE, grade_paths
from instructor.grading.extraction import SubmissionError
from instructor.grading.layouts import LAYOUTS, FoundSubmission, LayoutError, find_submissions, shared_ids, unique_ids
from instructor.grading.overrides import OverridesError, apply_overrides, read_overrides
from instructor.grading.report import check_output_path, table, to_csv, to_json, visible, write_atomically
from instructor.grading.roster import LMS_NAMES, JoinedRoster, Roster, RosterError, join, read_roster
from instructor.grading.run_record import new_seed, run_record, sha256_of_files
from instructor.grading.sandbox import GradingProcessError, Limits

EXIT_CANNOT_GRADE = 2


DEFAULT_CANVAS_ASSIGNMENT = "Exercise Sheet 4 - Optimization 2"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Options and examples: docs/grading-options.md")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="submitted .ipynb notebooks or .py modules, or folders of them (searched recursively)")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--json", type=Path, metavar="FILE",
                         help="write the gradebook as JSON to FILE, with a record of the run (seed, grader "
                              "version, hashes of solution.py and the task definitions, options, date)")
    outputs.add_argument("--csv", type=Path, metavar="FILE",
                         help="write the gradebook as CSV to FILE: one row per student, id first, then the points "
                              "of each task and the total")
    outputs.add_argument("--feedback", type=Path, metavar="DIR",
                         help="write one self-contained HTML feedback page per student to DIR/<student>.html")
    outputs.add_argument("--report", type=Path, metavar="FILE",
                         help="write the class report (distributions, most failed checks, corrections, review "
                              "flags, grading failures) as one self-contained HTML file")
    grading = parser.add_argument_group("grading")
    grading.add_argument("--seed", type=int, metavar="N",
                         help=f"draw every probe's inputs from seed N (0 to {SEED_RANGE - 1}); grading again with "
                              "the seed recorded in a gradebook JSON gives the same points and messages "
                              "(default: a new seed, recorded)")
    grading.add_argument("--layout", choices=LAYOUTS,
                         help="how the folders name the students (default: detected): nbgrader's "
                              "submitted/<student_id>/<assignment>/, Canvas's or Moodle's bulk download, or flat "
                              "(the file name is the id)")
    grading.add_argument("--overrides", type=Path, metavar="FILE.csv",
                         help="corrections applied after grading, a CSV with the columns id,task,points,comment; "
                              "checked before anything is graded")
    grading.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                         help="grade N submissions in parallel (default: min(4, CPU cores))")
    grading.add_argument("--task-timeout", type=float, default=Limits.task_timeout_s, metavar="SECONDS",
                         help=f"wall-clock limit per task and submission (default {Limits.task_timeout_s:g})")
    grading.add_argument("--reference", type=Path, default=REFERENCE_PATH, metavar="FILE",
                         help="the reference solution to compare with (default: solution.py)")
    grading.add_argument("--quiet", action="store_true",
                         help="show no progress (it is only shown when the output is a terminal anyway)")
    lms = parser.add_argument_group("class list and LMS import")
    lms.add_argument("--roster", type=Path, metavar="FILE.csv",
                     help="the class list as the LMS exports it (Canvas: gradebook export; Moodle: the "
                          "assignment's grading worksheet); needs --lms and --lms-csv")
    lms.add_argument("--lms", choices=LMS_NAMES, help="the LMS of --roster and of the --lms-csv layout")
    lms.add_argument("--lms-csv", type=Path, metavar="FILE",
                     help="write the grades in the LMS's import layout, one row per rostered student")
    lms.add_argument("--roster-key", metavar="COLUMN",
                     help="the roster column that holds the submissions' ids (default: Canvas ID, Moodle "
                          "Identifier)")
    lms.add_argument("--lms-assignment", default=DEFAULT_CANVAS_ASSIGNMENT, metavar="NAME",
                     help="Canvas: the assignment column to fill, e.g. 'Sheet 4 (1234)' as in the export; a new "
                          f"name creates an assignment (default {DEFAULT_CANVAS_ASSIGNMENT!r})")
    arguments = parser.parse_args(argv)
    if arguments.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {arguments.jobs}")
    if arguments.task_timeout <= 0:
        parser.error(f"--task-timeout must be positive, got {arguments.task_timeout}")
    if arguments.seed is not None and not 0 <= arguments.seed < SEED_RANGE:
        parser.error(f"--seed must be from 0 to {SEED_RANGE - 1}, got {arguments.seed}")
    given = [name for name in ("roster", "lms", "lms_csv") if getattr(arguments, name) is not None]
    if given and len(given) < 3:
        parser.error("--roster, --lms and --lms-csv go together: the class list, its LMS and the import file to "
                     "write")
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


def check_outputs(arguments: argparse.Namespace, submissions: list[Path]) -> str | None:
    """Why an output cannot be written (checked before grading, which takes long), or None."""
    for output in (arguments.json, arguments.csv, arguments.report, arguments.lms_csv):
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


@dataclass
class Gradebook:
    """What a run produced: the grades, their ids and layout facts, the run's record, the roster join."""

    grades: list
    students: list[str]
    found: list[FoundSubmission]
    run: dict
    roster: Roster | None = None
    joined: JoinedRoster | None = None

    def roster_json(self) -> dict | None:
        return self.joined.to_json(self.roster) if self.joined is not None else None


def write_outputs(arguments: argparse.Namespace, book: Gradebook, submissions: list[Path], quiet: bool) -> bool:
    """Write every output asked for, the gradebook files first; False if one could not be written."""
    from instructor.grading.feedback import write_feedback  # imported here: matplotlib only for the HTML outputs

    ok = True
    # --- similar answers (#18 item 5, instructor/grading/similarity_outputs.py): JSON and class report only
    similar = None
    if arguments.json is not None or arguments.report is not None:
        from instructor.grading.similarity_outputs import class_similarity, with_similarity

        try:
            similar = class_similarity([g.path for g in book.grades], book.students, arguments.reference)
        except Exception as exc:  # noqa: BLE001 -- the gradebook is written without the comparison
            error(f"could not compare the answers for similarity: {type(exc).__name__}: {exc}")
    # --- end of similar answers
    renders = ((arguments.json, lambda: with_similarity(
                   to_json(book.grades, book.students, book.found, book.run, book.roster_json()), similar)),
               (arguments.csv, lambda: to_csv(book.grades, book.students, book.found)),
               (arguments.lms_csv, lambda: book.joined.csv_text))
    for output, render in renders:
        if output is None:
            continue
        try:
            write_atomically(output, render(), submissions)
        except (OSError, ValueError) as exc:
            error(f"could not write the gradebook: {exc}")
            ok = False
    feedback_files: list[Path] = []
    if arguments.feedback is not None:
        try:
            feedback_files = write_feedback(book.grades, arguments.feedback, submissions, students=book.students)
            if not quiet:
                print(f"grade.py: wrote {len(feedback_files)} feedback pages to {arguments.feedback}",
                      file=sys.stderr)
        except Exception as exc:  # the gradebook is written; report any failure here and go on
            error(f"could not write the feedback pages: {type(exc).__name__}: {exc}")
            ok, feedback_files = False, []
    if arguments.report is not None:
        try:
            from instructor.grading.class_report import feedback_links, render_report

            links = feedback_links(book.students, feedback_files, arguments.report) if feedback_files else None
            report_html = render_report(book.grades, links, book.students)
            if similar is not None:  # similar answers (#18 item 5)
                from instructor.grading.similarity_outputs import similarity_section, with_similarity_section

                points = {student: {"total": g.points, **{task: t.points for task, t in g.tasks.items()}}
                          for student, g in zip(book.students, book.grades)}
                report_html = with_similarity_section(report_html, similarity_section(similar, points))
            write_atomically(arguments.report, report_html, submissions)
            if not quiet:
                print(f"grade.py: wrote the class report to {arguments.report}", file=sys.stderr)
        except Exception as exc:  # the gradebook is written; report any failure here and go on
            error(f"could not write the class report: {type(exc).__name__}: {exc}")
            ok = False
    return ok


def run_options(arguments: argparse.Namespace, found: list[FoundSubmission]) -> dict:
    """The options of this run as the gradebook records them (files with their SHA-256)."""
    options = {"paths": list(arguments.paths), "layout": found[0].layout if found else arguments.layout,
               "layout_forced": arguments.layout is not None, "jobs": arguments.jobs,
               "task_timeout_s": arguments.task_timeout, "reference": str(arguments.reference)}
    for name in ("overrides", "roster"):
        file = getattr(arguments, name)
        if file is not None:
            options[name] = {"file": str(file), "sha256": sha256_of_files([file])}
    if arguments.roster is not None:
        options.update(lms=arguments.lms, roster_key=arguments.roster_key, lms_assignment=arguments.lms_assignment)
    return options


def read_inputs(arguments: argparse.Namespace):
    """The submissions, their ids, the overrides and the roster, all checked before grading (or an error)."""
    found = find_submissions(arguments.paths, arguments.layout)
    students = unique_ids(found)
    overrides = read_overrides(arguments.overrides, students) if arguments.overrides is not None else []
    roster = (read_roster(arguments.roster, arguments.lms, arguments.roster_key)
              if arguments.roster is not None else None)
    return found, students, overrides, roster


def report_roster(joined: JoinedRoster) -> None:
    """Say on stderr who of the roster has no submission and which submissions have no rostered student."""
    if joined.missing:
        names = ", ".join(f"{m['name'] or m['id']} ({m['id']})" for m in joined.missing)
        print(visible(f"grade.py: {len(joined.missing)} rostered students have no submission (empty grade in the "
                      f"import file): {names}"), file=sys.stderr)
    if joined.unrostered:
        print(visible(f"grade.py: warning: {len(joined.unrostered)} submissions have no rostered student and are "
                      f"not in the import file (they are in the gradebook): {', '.join(joined.unrostered)}"),
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        found, students, overrides, roster = read_inputs(arguments)
    except (FileNotFoundError, LayoutError, OverridesError, RosterError) as exc:
        error(f"{exc}; nothing was graded")
        return EXIT_CANNOT_GRADE
    paths = [entry.path for entry in found]
    submissions = [Path(p) for p in paths]
    problem = check_outputs(arguments, submissions)
    if problem is not None:
        error(f"{problem}; nothing was graded")
        return EXIT_CANNOT_GRADE
    for student, group in shared_ids(found).items():
        ids = [s for entry, s in zip(found, students) if entry.path in group]
        print(visible(f"grade.py: warning: {len(group)} submissions have the id {student!r} ({', '.join(group)}); "
                      f"the gradebook calls them {', '.join(ids)}", keep_newlines=False), file=sys.stderr)
    seed = arguments.seed if arguments.seed is not None else new_seed()
    record = run_record(seed, arguments.reference, run_options(arguments, found))
    progress = Progress()
    options = {"say": progress.say}
    if shows_progress(arguments.quiet):
        print(f"grade.py: grading {len(paths)} submissions with {arguments.jobs} processes (seed {seed})",
              file=sys.stderr)
        options["on_submission_done"] = progress
    try:
        # the seed is passed, never filtered: the gradebook records it as the one the inputs were drawn from
        grades = grade_paths(paths, Limits(task_timeout_s=arguments.task_timeout), arguments.jobs,
                             arguments.reference, seed=seed, **options)
    except (FileNotFoundError, GradingProcessError, SubmissionError) as exc:
        progress.clear()
        error(str(exc))
        return EXIT_CANNOT_GRADE
    progress.clear()
    apply_overrides(grades, students, overrides)
    joined = join(roster, grades, students, arguments.lms_assignment) if roster is not None else None
    print(table(grades, found))
    if joined is not None:
        report_roster(joined)
    book = Gradebook(grades, students, found, record, roster, joined)
    if not write_outputs(arguments, book, submissions, arguments.quiet):
        return EXIT_CANNOT_GRADE
    return 0


if __name__ == "__main__":
    sys.exit(main())
