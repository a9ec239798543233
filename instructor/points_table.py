"""The README's table of graded tasks, checks and points, made from the task registry (``instructor/tasks``).

    python -m instructor.points_table           # print the table
    python -m instructor.points_table --write   # replace the table in README.md

The table stands in README.md between ``BEGIN`` and ``END``; a test fails
while it differs from what the registry says.
"""
from __future__ import annotations

import argparse
import sys

from instructor.grading.verdicts import gated_checks
from instructor.shipped import PROJECT_ROOT
from instructor.tasks import REGISTRY
from instructor.tasks.spec import Task

README_PATH = PROJECT_ROOT / "README.md"
BEGIN = "<!-- tasks and points: made by python -m instructor.points_table --write -->"
END = "<!-- end of tasks and points -->"


# marks a check that counts only when the answer shows work (``verdicts.Checks``)
GATED_MARK = "†"
# what shows work when a task names nothing more specific: its work checks, or a known mistake's values
DEFAULT_GATE = "a check without {mark} passes, or the values are those of a known mistake"


def gate_text(task: Task) -> str:
    """The table's last column for ``task``: when its gated checks count, or that none is gated."""
    if not gated_checks(task.checks, task.work_checks):
        return "none: every check is judged on its own evidence"
    return f"{GATED_MARK} only when {task.gate or DEFAULT_GATE.format(mark=GATED_MARK)}"


def render() -> str:
    """The markdown table: one row per task, its checks with their points, and where "points only for work" applies."""
    rows = ["| Task | Points | Checks (points); a check gives all its points or none | Points only for work |",
            "|---|---|---|---|"]
    for task in REGISTRY.tasks():
        gated = gated_checks(task.checks, task.work_checks)
        checks = " · ".join(f"{label} ({points}){GATED_MARK if name in gated else ''}"
                            for name, (points, label) in task.checks.items())
        rows.append(f"| {task.id}: {task.title} | {task.points} | {checks} | {gate_text(task)} |")
    total = sum(task.points for task in REGISTRY.tasks())
    rows.append(f"| total | {total} | | |")
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """``readme`` with the text between its markers replaced by the current table."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(f"README.md needs the lines {BEGIN!r} and {END!r}, once each and in that order")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    arguments = parser.parse_args(argv)
    if not arguments.write:
        print(render())
        return 0
    try:
        README_PATH.write_text(with_table(README_PATH.read_text(encoding="utf-8")), encoding="utf-8")
    except ValueError as error:
        print(f"points_table: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
