"""What students receive besides the notebook: the one list that the release and the grader use.

The release copies these files, byte for byte, into the student bundle; the grader gives
the same student code to every task process, so that a submission imports
what its author imported.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# what the notebook imports from its own folder: a module and a package
STUDENT_CODE = ("utils.py", "ex4")
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

