"""What students receive besides the notebook: the one list that the release and the grader use.

The release copies these files into the student bundle; the grader gives
the same student code to every task process, so that a submission imports
what its author imported.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# what the notebook imports from its own folder: a module and a package
STUDENT_CODE = ("utils.py", "ex4")
# in a task module, the line above which students get the module: below it are the grader's probe and verdict
GRADER_ONLY_LINE = "# ==== grader only: students receive this module up to this line (instructor/shipped.py) ===="
TASK_MODULES_DIR = "ex4/tasks"
# bundle path -> project path of the other files students get
OTHER_BUNDLE_FILES = {
    "README.md": "instructor/release_templates/student_README.md",
    "data/README.md": "data/README.md",
}


def student_code_files(root: Path = PROJECT_ROOT) -> list[str]:
    """Root-relative paths of every Python file of ``STUDENT_CODE``, sorted."""
    files = []
    for entry in STUDENT_CODE:
        path = root / entry
        if path.is_dir():
            files.extend(str(p.relative_to(root)) for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        else:
            files.append(entry)
    return sorted(files)


def bundle_files(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """Bundle path -> project path of every file the release copies."""
    return {**{path: path for path in student_code_files(root)}, **OTHER_BUNDLE_FILES}


class ShippingError(ValueError):
    """A student file cannot be shipped as it is; the message says what to fix."""


def student_version(relative: str, text: str) -> str:
    """What students get of the student code file ``relative``: a task module ends above its grader-only line."""
    if not (relative.startswith(TASK_MODULES_DIR + "/") and Path(relative).name.startswith("task_")):
        return text
    lines = text.split("\n")
    marks = [index for index, line in enumerate(lines) if line.strip() == GRADER_ONLY_LINE]
    if len(marks) != 1:
        raise ShippingError(f"{relative} has {len(marks)} grader-only lines; a task module needs exactly one, "
                            f"'{GRADER_ONLY_LINE}', above its probe and verdict")
    return "\n".join(lines[:marks[0]]).rstrip("\n") + "\n"
