"""Whether Python, PyTorch and torchvision are new enough: the notebook's first code cell calls ``check_versions()``.

The lowest versions, and what in the exercise sets each:

- Python 3.10: the helpers call ``zip(..., strict=True)`` (``ex4/model_properties.py``).
- torch 2.0: the notebook's text and its ``zero_grad`` demo describe the default
  ``set_to_none=True`` of ``Optimizer.zero_grad()``, which torch 2.0 introduced.
- torchvision 0.15: the release made for torch 2.0.
- torch 2.3 with NumPy 2: older torch builds cannot convert NumPy 2 arrays, which
  ``ToTensor`` does for every MNIST image.

The student bundle's ``requirements.txt`` asks for these minimums (``instructor/release.py``
writes it from ``MINIMUM_VERSIONS``); the course machines use the exact versions of the
project's own ``requirements.txt``.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Mapping

MINIMUM_PYTHON = (3, 10)
# package -> the lowest release the notebook works with (see the module docstring for why)
MINIMUM_VERSIONS = {"torch": "2.0", "torchvision": "0.15"}
# torch builds before this release cannot use NumPy 2
TORCH_FOR_NUMPY_2 = "2.3"
# PyTorch's package index of CPU-only builds (much smaller downloads on Linux)
CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"
_RELEASE = re.compile(r"(\d+)\.(\d+)")


class VersionTooOldError(RuntimeError):
    """Python or a package is too old for the notebook; the message says what to install."""


def release(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as ``"2.5.1+cu121"`` or ``"0.20.0.dev20240601"``."""
    match = _RELEASE.match(version)
    if match is None:
        raise ValueError(f"cannot read a version number from {version!r}")
    return int(match.group(1)), int(match.group(2))


def python_problem(python: tuple[int, ...]) -> str | None:
    """Why Python ``python`` (e.g. ``sys.version_info[:2]``) is too old, or None."""
    if tuple(python[:2]) >= MINIMUM_PYTHON:
        return None
    return (f"Python {'.'.join(map(str, python[:2]))} is too old: the notebook needs Python "
            f"{'.'.join(map(str, MINIMUM_PYTHON))} or newer; create your environment with a newer Python")


def package_problems(versions: Mapping[str, str]) -> list[str]:
    """What is too old, one sentence each; empty when everything is new enough.

    ``versions`` maps ``"torch"``, ``"torchvision"`` and ``"numpy"`` to their version strings.
    """
    problems = []
    for package, minimum in MINIMUM_VERSIONS.items():
        if release(versions[package]) < release(minimum):
            problems.append(f"{package} {versions[package]} is too old: the notebook needs {package} {minimum} "
                            "or newer")
    if release(versions["numpy"]) >= (2, 0) and release(versions["torch"]) < release(TORCH_FOR_NUMPY_2):
        problems.append(f"torch {versions['torch']} cannot use numpy {versions['numpy']}: install torch "
                        f"{TORCH_FOR_NUMPY_2} or newer, or numpy older than 2 (pip install \"numpy<2\")")
    return problems


def install_advice() -> str:
    """How to install new enough versions, on any machine and on Linux without a GPU."""
    wanted = " ".join(f'"{package}>={minimum}"' for package, minimum in MINIMUM_VERSIONS.items())
    return (f"Update them in the environment this notebook runs in: pip install --upgrade {wanted} "
            f"(on Linux without a GPU, add --index-url {CPU_INDEX_URL} for the much smaller CPU-only build), "
            "then restart the kernel and run the notebook again.")


def check_versions() -> None:
    """Raise ``VersionTooOldError`` saying what to install when Python, torch or torchvision is too old."""
    import numpy
    import torch
    import torchvision

    versions = {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": numpy.__version__}
    python, packages = python_problem(sys.version_info[:2]), package_problems(versions)
    messages = ([f"{python}."] if python else []) + (["; ".join(packages) + ". " + install_advice()]
                                                     if packages else [])
    if messages:
        raise VersionTooOldError(" ".join(messages))
