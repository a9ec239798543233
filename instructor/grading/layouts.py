"""Where submissions are and whose they are: the folder layouts of nbgrader, Canvas, Moodle and a flat folder.

A folder given to the grader is searched recursively for ``*.ipynb`` and
``*.py`` files (hidden folders, ``.ipynb_checkpoints`` and ``__pycache__``
left out). Each file's student id comes from the layout it was found in:

- ``nbgrader``: ``.../submitted/<student_id>/<assignment_id>/<notebook_id>.ipynb``
  (nbgrader's course directory); the id is ``student_id``. Only notebooks
  directly in the assignment folder count, as nbgrader collects them.
- ``canvas``: the names of Canvas's "Download Submissions" zip,
  ``<name>_<user id>_<submission id>_<file>`` or, for work handed in after the
  due date, ``<name>_late_<user id>_<submission id>_<file>``; the id is the
  Canvas user id (the ``ID`` column of Canvas's gradebook export) and the
  submission is marked ``late``.
- ``moodle``: Moodle's "Download all submissions" zip, a folder
  ``<Full Name>_<participant id>_assignsubmission_file_/`` per student (or,
  downloaded without folders, files named
  ``<Full Name>_<participant id>_assignsubmission_file_<file>``); the id is the
  participant id (``Participant <id>`` in Moodle's grading worksheet).
- ``flat``: any other file; the id is the file name without its suffix.

``find_submissions`` detects the layout (the one layout every file found
fits, besides ``flat``, which every file fits) or takes the one forced; a tree
whose files fit different layouts is an error that names them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from instructor.grading.core import SUBMISSION_SUFFIXES
from instructor.grading.text import numbered_apart, visible
from instructor.shipped import STUDENT_CODE

LAYOUTS = ("nbgrader", "canvas", "moodle", "flat")
# folders never searched: editor and Jupyter copies, caches
SKIPPED_FOLDERS = frozenset({".ipynb_checkpoints", "__pycache__"})
NBGRADER_SUBMITTED = "submitted"
# Canvas: name (letters and digits, no underscore), optional "late", user id, submission id, the file's own name
CANVAS_NAME = re.compile(r"^(?P<name>[^_]+?)_(?:(?P<late>late)_)?(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$",
                         re.IGNORECASE)
# Moodle: full name (underscores replaced by spaces), participant id, the plugin's folder or file prefix
MOODLE_FOLDER = re.compile(r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_file_$")
MOODLE_FILE = re.compile(r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_file_(?P<file>.+)$")
# how many example files an error message names per layout
EXAMPLES_SHOWN = 3


class LayoutError(ValueError):
    """The submissions' folders cannot be read as one layout; the message says which candidates there are."""


@dataclass(frozen=True)
class FoundSubmission:
    """One submitted file and what its layout says about it.

    ``student`` is the id the layout gives (before ids shared by several files
    are made unique), ``name`` the student's name where the layout has one
    (Canvas, Moodle), ``file`` the file's name as the student submitted it.
    """

    path: str
    student: str
    layout: str
    late: bool = False
    name: str = ""
    file: str = ""


def match(path: Path, layout: str) -> FoundSubmission | None:
    """What ``layout`` says about the file ``path``, or None when it does not fit.

    The folders above the file count wherever they are: ``submitted/`` or a
    Moodle student folder may be the folder given or any folder above it.
    """
    parts = path.absolute().parts
    if layout == "nbgrader":
        if len(parts) >= 4 and parts[-4] == NBGRADER_SUBMITTED and path.suffix == ".ipynb":
            return FoundSubmission(str(path), parts[-3], layout, file=path.name)
        return None
    if layout == "canvas":
        found = CANVAS_NAME.match(path.name)
        if found is None:
            return None
        return FoundSubmission(str(path), found["id"], layout, late=found["late"] is not None,
                               name=found["name"], file=found["file"])
    if layout == "moodle":
        for folder in parts[:-1]:
            found = MOODLE_FOLDER.match(folder)
            if found is not None:
                return FoundSubmission(str(path), found["id"], layout, name=found["name"], file=path.name)
        found = MOODLE_FILE.match(path.name)
        if found is None:
            return None
        return FoundSubmission(str(path), found["id"], layout, name=found["name"], file=found["file"])
    if layout == "flat":
        return FoundSubmission(str(path), path.stem or path.name, layout, file=path.name)
    raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")


def is_student_code(found: FoundSubmission, root: Path) -> bool:
    """True for a copy of the helper code students were given (``utils.py``, the ``ex4`` package)."""
    folders = Path(found.path).relative_to(root).parts[:-1] if Path(found.path).is_relative_to(root) else ()
    return found.file in STUDENT_CODE or any(folder in STUDENT_CODE for folder in folders)


def files_under(folder: Path) -> list[Path]:
    """Every ``*.ipynb`` and ``*.py`` file under ``folder``, sorted, without hidden or cache folders."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") or part in SKIPPED_FOLDERS for part in relative):
            continue
        if path.suffix in SUBMISSION_SUFFIXES and path.is_file():
            found.append(path)
    return sorted(found)


def find_submissions(paths: Sequence[str], layout: str | None = None) -> list[FoundSubmission]:
    """The submissions in ``paths`` (files, or folders searched recursively) with their layout's ids.

    ``layout`` forces one of ``LAYOUTS``; None detects it. Raises
    FileNotFoundError for a path that does not exist or a folder without
    submissions, LayoutError when the files fit different layouts (or not the
    forced one), naming the candidates and example files.
    """
    if layout is not None and layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    candidates: list[tuple[Path, Path]] = []  # (file, the folder it was found in)
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = files_under(path)
            if not files:
                raise FileNotFoundError(f"the folder {given} holds no submission: no "
                                        f"{' or '.join('*' + s for s in SUBMISSION_SUFFIXES)} file in it or "
                                        "its subfolders")
            candidates += [(file, path) for file in files]
        elif path.is_file():
            candidates.append((path, path.parent))
        else:
            raise FileNotFoundError(f"no such submission file or folder: {given} "
                                    "(give .ipynb notebooks or .py modules, or folders of them)")
    chosen = layout or detect_layout(candidates)
    found, misfits = [], []
    for file, root in candidates:
        entry = match(file, chosen)
        if entry is None:
            if chosen == "nbgrader" and file.suffix == ".py":
                continue  # nbgrader collects notebooks; a .py beside one is a helper, not a submission
            misfits.append(str(file))
        elif not is_student_code(entry, root):
            found.append(entry)
    if misfits:
        raise LayoutError(f"{len(misfits)} files do not fit the {chosen} layout "
                          f"({describe(chosen)}): {', '.join(misfits[:EXAMPLES_SHOWN])}"
                          f"{' …' if len(misfits) > EXAMPLES_SHOWN else ''}; choose the layout with --layout "
                          "or grade those files separately")
    if not found:
        raise FileNotFoundError("no submission found: every file found is a copy of the helper code students "
                                f"were given ({', '.join(STUDENT_CODE)})")
    return found


def describe(layout: str) -> str:
    return {"nbgrader": "submitted/<student_id>/<assignment>/<notebook>.ipynb",
            "canvas": "<name>_[late_]<user id>_<submission id>_<file>",
            "moodle": "<Full Name>_<participant id>_assignsubmission_file_/<file>",
            "flat": "the file name is the id"}[layout]


def detect_layout(candidates: Sequence[tuple[Path, Path]]) -> str:
    """The one platform layout that every file fits, ``flat`` when none fits any; else LayoutError."""
    fits: dict[str, list[str]] = {name: [] for name in LAYOUTS}
    for file, _ in candidates:
        platform = [name for name in LAYOUTS[:-1] if match(file, name) is not None]
        for name in platform or ["flat"]:
            fits[name].append(str(file))
    used = [name for name in LAYOUTS if fits[name]]
    if len(used) == 1:
        return used[0]
    if used == ["nbgrader", "flat"] and all(Path(f).suffix == ".py" for f in fits["flat"]):
        return "nbgrader"  # helper .py files beside the collected notebooks
    details = "; ".join(f"{len(fits[name])} fit {name} ({describe(name)}), e.g. "
                        f"{', '.join(fits[name][:EXAMPLES_SHOWN])}" for name in used)
    raise LayoutError(f"the submissions fit more than one layout: {details}. Choose one with "
                      f"--layout {'|'.join(used)}, or grade the groups separately")


def student_id(entry: FoundSubmission) -> str:
    """The layout's id with control characters written as escapes (a file name may hold a newline)."""
    return visible(entry.student or "submission", keep_newlines=False)


def unique_ids(found: Sequence[FoundSubmission]) -> list[str]:
    """One id per submission: the layout's id, with ``-2``, ``-3``, ... for later files of the same id."""
    return numbered_apart([student_id(entry) for entry in found])


def shared_ids(found: Sequence[FoundSubmission]) -> dict[str, list[str]]:
    """Each layout id that more than one file has, with those files' paths."""
    by_id: dict[str, list[str]] = {}
    for entry in found:
        by_id.setdefault(student_id(entry), []).append(entry.path)
    return {student: group for student, group in by_id.items() if len(group) > 1}
