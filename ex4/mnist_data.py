"""Make the four original MNIST files available to ``torchvision.datasets.MNIST``.

torchvision looks for the uncompressed files in ``<root>/MNIST/raw/`` and
downloads nothing when all four are there. ``ensure_mnist`` fills that folder
either from a local copy named by the environment variable ``EX4_MNIST_DIR``
(for machines without internet) or by torchvision's own download, then checks
every file's size and MD5 sum, so that a missing or truncated file ends in one
clear message instead of a stack of download errors.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.error import URLError

LOCAL_COPY_ENV_VAR = "EX4_MNIST_DIR"

# name -> (size in bytes, MD5 of the uncompressed original file)
MNIST_FILES = {
    "train-images-idx3-ubyte": (47_040_016, "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": (60_008, "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": (7_840_016, "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (10_008, "27ae3e4e09519cfbb04c329615203637"),
}

_HASH_CHUNK_BYTES = 1 << 20

# a running Jupyter kernel does not see variables set later in a shell: set it with %env in a cell
FIX_HINT = (
    f"Either connect to the internet and run this cell again, or point the "
    f"environment variable {LOCAL_COPY_ENV_VAR} at a folder holding the four "
    f"uncompressed MNIST files ({', '.join(MNIST_FILES)}): in this notebook, run "
    f"`%env {LOCAL_COPY_ENV_VAR}=/path/to/the/folder` in a new cell and then this cell again "
    f"(or set it in the shell before starting Jupyter)."
)


class MNISTUnavailableError(RuntimeError):
    """MNIST could not be found, copied or downloaded, or a file is corrupt."""


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_problem(path: Path, name: str) -> str | None:
    """Describe what is wrong with ``path`` as MNIST file ``name``, or None if it is intact."""
    size, md5 = MNIST_FILES[name]
    if not path.is_file():
        return f"{path} is missing"
    actual_size = path.stat().st_size
    if actual_size != size:
        return f"{path} has {actual_size} bytes, expected {size} (truncated or not the original file)"
    if _md5(path) != md5:
        return f"{path} has the right size but the wrong MD5 sum (corrupt file)"
    return None


def _local_copy_dir(folder: Path) -> Path:
    """Accept either a folder with the four files or a dataset root with MNIST/raw inside."""
    nested = folder / "MNIST" / "raw"
    return nested if nested.is_dir() else folder


def _copy_atomically(source: Path, target: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        shutil.copyfile(source, tmp_path)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _copy_from_local(source_dir: Path, raw_dir: Path, names: list[str]) -> None:
    problems = [p for name in names if (p := file_problem(source_dir / name, name))]
    if problems:
        raise MNISTUnavailableError(
            f"{LOCAL_COPY_ENV_VAR}={source_dir} does not hold usable MNIST files: "
            + "; ".join(problems)
            + f". Point {LOCAL_COPY_ENV_VAR} at a folder with the four original files."
        )
    for name in names:
        _copy_atomically(source_dir / name, raw_dir / name)


def _download(root: Path) -> None:
    from torchvision import datasets

    try:
        for train in (True, False):
            datasets.MNIST(root=str(root), train=train, download=True)
    except (URLError, OSError, RuntimeError) as error:
        raise MNISTUnavailableError(
            f"MNIST is not in {root / 'MNIST' / 'raw'} and downloading it failed "
            f"({type(error).__name__}: {error}). {FIX_HINT}"
        ) from None


def ensure_mnist(root: str | os.PathLike = "data") -> Path:
    """Make sure the four intact MNIST files are in ``<root>/MNIST/raw`` and return that folder.

    Missing files come from ``$EX4_MNIST_DIR`` when it is set, otherwise from
    torchvision's download. Files already present are never overwritten: a
    corrupt one raises ``MNISTUnavailableError`` that names it and the fix.
    """
    root = Path(root)
    raw_dir = root / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw_dir / name).exists()]
    if missing:
        local_copy = os.environ.get(LOCAL_COPY_ENV_VAR)
        if local_copy:
            raw_dir.mkdir(parents=True, exist_ok=True)
            _copy_from_local(_local_copy_dir(Path(local_copy)), raw_dir, missing)
        else:
            _download(root)
    problems = [p for name in MNIST_FILES if (p := file_problem(raw_dir / name, name))]
    if problems:
        raise MNISTUnavailableError(
            "MNIST is not usable: " + "; ".join(problems)
            + ". Delete the broken file(s) and run this cell again. " + FIX_HINT
        )
    return raw_dir
