"""Build the student bundle: ``python -m instructor.release OUT_DIR``.

Writes ``OUT_DIR/`` and ``OUT_DIR.zip`` beside it. The bundle holds the
notebook with every solution region replaced by a TODO stub, its outputs
cleared and the instructor-only lines removed, plus the files students need
(``instructor/shipped.py``). It never holds ``solution.py``, the tests or the
grader, and the build fails rather than ship a line of a reference answer.

The notebook's stubs are made by ``instructor/release_stubs.py``; the guard
against shipped answers and grader imports is ``instructor/release_guard.py``.

Round trip (tested): ``fill_stubs(release_notebook(ref), solution.py)`` has
the cells of ``ref`` with the same types and sources, except that the
instructor-only lines are gone from the code cells (``strip_instructor_lines``);
outputs, execution counts and cell metadata are cleared.

Running the release twice gives byte-identical files, the zip included.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from ex4.environment import MINIMUM_VERSIONS
from instructor.release_guard import answer_lines, find_grader_imports, find_leaks
from instructor.release_stubs import SOLUTION_NAME, ReleaseError, release_notebook
from instructor.shipped import PROJECT_ROOT, bundle_files

NOTEBOOK_NAME = "Ex4_Optimization2.ipynb"
REQUIREMENTS_NAME = "requirements.txt"
# packages only the instructor's tests need
INSTRUCTOR_ONLY_REQUIREMENTS = ("pytest", "nbval", "jupytext", "ruff")
STUDENT_REQUIREMENTS_HEADER = ("# What the notebook needs; any torch/torchvision from these versions on works "
                               "(README.md: a CPU-only install).")
# written into every bundle: only a folder holding it is ever replaced
MARKER_NAME = ".ex4-student-bundle"
MARKER_TEXT = ("Student bundle written by release.py. The next release replaces this "
               "folder; do not keep your work in it.\n")
# fixed zip entry timestamp (the earliest a zip can store) and Unix permissions
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o644
FOLDER_MODE = 0o755
ZIP_CREATE_SYSTEM_UNIX = 3


def student_requirements(requirements: str) -> str:
    """``requirements`` without comments and instructor-only packages; torch and torchvision as
    "at least" the versions the notebook needs (``ex4/environment.py``), not the course machines' pin."""
    kept = [STUDENT_REQUIREMENTS_HEADER]
    for line in requirements.splitlines():
        name = re.split(r"[<>=!~\[;\s]", line.strip(), maxsplit=1)[0].lower()
        if not name or name.startswith("#") or name in INSTRUCTOR_ONLY_REQUIREMENTS:
            continue
        kept.append(f"{name}>={MINIMUM_VERSIONS[name]}" if name in MINIMUM_VERSIONS else line)
    return "\n".join(kept) + "\n"


def _is_bundle(path: Path) -> bool:
    return (path / MARKER_NAME).is_file()


def _zip_is_bundle(path: Path, folder_name: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            # zips of earlier releases held the marker file itself
            return (archive.comment == MARKER_TEXT.encode("utf-8")
                    or f"{folder_name}/{MARKER_NAME}" in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _check_out_dir(out_dir: Path, zip_path: Path) -> None:
    if out_dir.exists() and not (out_dir.is_dir() and _is_bundle(out_dir)):
        raise ReleaseError(
            f"refusing to overwrite {out_dir}: it exists and is not a student bundle written by "
            f"release.py (no {MARKER_NAME} file in it). Choose another OUT_DIR or remove it yourself")
    if zip_path.exists() and not _zip_is_bundle(zip_path, out_dir.name):
        raise ReleaseError(
            f"refusing to overwrite {zip_path}: it exists and is not a zip written by release.py. "
            "Choose another OUT_DIR or remove the zip yourself")


def write_bundle_files(folder: Path, root: Path, notebook: nbformat.NotebookNode) -> None:
    """Write the student notebook and the copied files into the empty ``folder``."""
    for bundle_path, project_path in sorted(bundle_files(root).items()):
        target = folder / bundle_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((root / project_path).read_bytes())
    (folder / REQUIREMENTS_NAME).write_text(
        student_requirements((root / REQUIREMENTS_NAME).read_text(encoding="utf-8")),
        encoding="utf-8")
    (folder / NOTEBOOK_NAME).write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
    (folder / MARKER_NAME).write_text(MARKER_TEXT, encoding="utf-8")


def write_zip(folder: Path, zip_path: Path, top_name: str) -> None:
    """Zip ``folder`` as ``top_name/...``: sorted entries, fixed timestamps and modes.

    The marker file stays out of the zip (students unpack it anywhere); the
    zip carries the marker text as its comment instead.
    """
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.comment = MARKER_TEXT.encode("utf-8")
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER_NAME):
            info = zipfile.ZipInfo(f"{top_name}/{path.relative_to(folder).as_posix()}",
                                   date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ZIP_FILE_MODE << 16
            info.create_system = ZIP_CREATE_SYSTEM_UNIX
            archive.writestr(info, path.read_bytes())


def build_release(out_dir: Path, root: Path = PROJECT_ROOT, notebook_path: Path | None = None) -> Path:
    """Write the student bundle to ``out_dir`` and ``out_dir``.zip; return the zip's path.

    ``notebook_path`` defaults to the reference notebook in ``root``. Nothing
    is written when the notebook's regions are missing or malformed, or when
    a line of a reference answer would end up in the bundle.
    """
    out_dir = Path(out_dir).resolve()
    zip_path = out_dir.with_name(out_dir.name + ".zip")
    _check_out_dir(out_dir, zip_path)
    notebook_path = root / NOTEBOOK_NAME if notebook_path is None else Path(notebook_path)
    reference = nbformat.read(notebook_path, as_version=nbformat.NO_CONVERT)
    solution_source = (root / SOLUTION_NAME).read_text(encoding="utf-8")
    student = release_notebook(reference, solution_source)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        staging.chmod(FOLDER_MODE)
        write_bundle_files(staging, root, student)
        grader_imports = find_grader_imports(staging)
        if grader_imports:
            raise ReleaseError("refusing to release: student code would import the grader or the reference "
                               "(move that code to instructor/):\n  " + "\n  ".join(grader_imports))
        leaks = find_leaks(staging, answer_lines(solution_source, reference))
        if leaks:
            raise ReleaseError("refusing to release: reference answer lines would ship:\n  "
                               + "\n  ".join(leaks))
        staging_zip = staging.parent / (staging.name + ".zip")
        write_zip(staging, staging_zip, out_dir.name)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
        os.replace(staging_zip, zip_path)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
        (staging.parent / (staging.name + ".zip")).unlink(missing_ok=True)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the bundle; OUT_DIR.zip is written beside it")
    args = parser.parse_args(argv)
    try:
        zip_path = build_release(args.out_dir)
    except ReleaseError as error:
        print(f"release.py: {error}", file=sys.stderr)
        return 1
    print(f"Student bundle written to {args.out_dir} and {zip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
