"""Build the zip that Gradescope's autograder takes: ``python -m instructor.autograder OUT.zip``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once
while building its image and copies ``run_autograder`` to
``/autograder/run_autograder``, which it runs for every submission. The zip
holds both scripts at its root, the grader (``instructor/``), the task
definitions and the student helpers the grader gives to student code
(``ex4/``, ``utils.py``), ``solution.py`` and the requirements the grader
needs. Entries are sorted with fixed timestamps: building twice gives the
same bytes.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from instructor.shipped import PROJECT_ROOT

TEMPLATES = Path(__file__).resolve().parent / "templates"
SETUP_SCRIPT = "setup.sh"
RUN_SCRIPT = "run_autograder"
REQUIREMENTS = "requirements.txt"
# what setup.sh installs after torch: written from requirements.txt
AUTOGRADER_REQUIREMENTS = "autograder-requirements.txt"
# what the grader on Gradescope runs: folders are copied whole (without caches), files as they are
SHIPPED_FOLDERS = ("instructor", "ex4")
SHIPPED_FILES = ("utils.py", "solution.py", REQUIREMENTS)
SKIPPED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".ipynb_checkpoints"})
# requirements of the instructor's tests and notebook server only: not needed to grade
NOT_FOR_GRADING = frozenset({"pytest", "nbval", "ruff", "jupyter", "nbclient"})
# what the grader imports that requirements.txt gets only through jupyter
GRADER_EXTRAS = ("ipython",)
# torch and torchvision come from PyTorch's CPU index (setup.sh), pinned as requirements.txt pins them
TORCH_PACKAGES = ("torch", "torchvision")
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
SCRIPT_MODE = 0o755
ZIP_CREATE_SYSTEM_UNIX = 3
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


class BuildError(ValueError):
    """The autograder cannot be built from this checkout; the message says what to fix."""


def torch_pins(requirements: str) -> dict[str, str]:
    """``{"torch": version, "torchvision": version}`` as ``requirements`` pins them with ``==``."""
    pins = {}
    for line in requirements.splitlines():
        match = _PIN.match(line)
        if match and match.group(1).lower() in TORCH_PACKAGES:
            pins[match.group(1).lower()] = match.group(2)
    missing = [name for name in TORCH_PACKAGES if name not in pins]
    if missing:
        raise BuildError(f"{REQUIREMENTS} must pin {' and '.join(missing)} with == (e.g. torch==2.14.1): "
                         "the autograder installs exactly that CPU build")
    return pins


def grading_requirements(requirements: str) -> str:
    """The lines of ``requirements`` the grader needs, without torch/torchvision and test-only tools."""
    kept = []
    for line in requirements.splitlines():
        match = _REQUIREMENT_NAME.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        name = match.group(1).lower()
        if name in TORCH_PACKAGES or name in NOT_FOR_GRADING:
            continue
        kept.append(line.strip())
    return "\n".join([*kept, *GRADER_EXTRAS]) + "\n"


def setup_script(requirements: str) -> str:
    pins = torch_pins(requirements)
    return ((TEMPLATES / SETUP_SCRIPT).read_text(encoding="utf-8")
            .replace("@TORCH@", pins["torch"]).replace("@TORCHVISION@", pins["torchvision"])
            .replace("@REQUIREMENTS@", AUTOGRADER_REQUIREMENTS))


def zip_entries(root: Path = PROJECT_ROOT) -> dict[str, bytes]:
    """Zip path -> content of every entry, the two scripts at the root."""
    requirements = (root / REQUIREMENTS).read_text(encoding="utf-8")
    entries = {SETUP_SCRIPT: setup_script(requirements).encode("utf-8"),
               RUN_SCRIPT: (TEMPLATES / RUN_SCRIPT).read_bytes(),
               AUTOGRADER_REQUIREMENTS: grading_requirements(requirements).encode("utf-8")}
    for name in SHIPPED_FILES:
        if not (root / name).is_file():
            raise BuildError(f"{root / name} is missing: the autograder ships it")
        entries[name] = (root / name).read_bytes()
    for folder in SHIPPED_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and not SKIPPED_PARTS & set(relative.parts) and path.suffix != ".pyc":
                entries[relative.as_posix()] = path.read_bytes()
    return entries


def build_zip(out: Path, root: Path = PROJECT_ROOT) -> Path:
    """Write the autograder zip to ``out`` (a new file, or a zip this function wrote); return its path."""
    out = Path(out)
    if out.suffix != ".zip":
        raise BuildError(f"{out}: the autograder is a .zip file; give a name ending in .zip")
    if out.is_dir() or out.is_symlink():
        raise BuildError(f"refusing to write {out}: it is a folder or a symbolic link; choose another file")
    if out.exists() and not _is_autograder_zip(out):
        raise BuildError(f"refusing to overwrite {out}: it is not an autograder zip this command wrote")
    if not out.parent.is_dir():
        raise BuildError(f"the folder of {out} does not exist")
    entries = zip_entries(root)
    temporary = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = ZIP_CREATE_SYSTEM_UNIX
            info.external_attr = (SCRIPT_MODE if name in (SETUP_SCRIPT, RUN_SCRIPT) else FILE_MODE) << 16
            archive.writestr(info, entries[name])
    temporary.replace(out)
    return out


def _is_autograder_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return {SETUP_SCRIPT, RUN_SCRIPT} <= set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
