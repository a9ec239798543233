"""The version check of the notebook's first code cell (ex4/environment.py), with faked old versions."""
from __future__ import annotations

import numpy
import pytest
import torch
import torchvision

from ex4 import environment


def test_the_installed_versions_pass():
    environment.check_versions()


@pytest.mark.parametrize("module, package, old", [
    (torch, "torch", "1.13.1+cu117"),
    (torchvision, "torchvision", "0.14.1"),
])
def test_a_faked_old_package_is_named_with_what_to_install(monkeypatch, module, package, old):
    monkeypatch.setattr(module, "__version__", old)
    with pytest.raises(environment.VersionTooOldError) as error:
        environment.check_versions()
    message = str(error.value)
    minimum = environment.MINIMUM_VERSIONS[package]
    assert f"{package} {old} is too old: the notebook needs {package} {minimum} or newer" in message
    assert f'pip install --upgrade "torch>={environment.MINIMUM_VERSIONS["torch"]}"' in message
    assert environment.CPU_INDEX_URL in message and "restart the kernel" in message


def test_an_old_torch_with_numpy_2_says_to_update_one_of_them(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.2.2")
    monkeypatch.setattr(numpy, "__version__", "2.0.1")
    with pytest.raises(environment.VersionTooOldError, match=r'torch 2\.2\.2 cannot use numpy 2\.0\.1.*"numpy<2"'):
        environment.check_versions()


def test_the_lowest_versions_themselves_pass():
    versions = {**environment.MINIMUM_VERSIONS, "numpy": "1.26.4"}
    assert environment.package_problems(versions) == []
    assert environment.package_problems({**versions, "torch": environment.TORCH_FOR_NUMPY_2, "numpy": "2.1"}) == []
    assert environment.python_problem(environment.MINIMUM_PYTHON) is None


def test_an_old_python_is_named():
    assert environment.python_problem((3, 9)) == ("Python 3.9 is too old: the notebook needs Python 3.10 or newer; "
                                                  "create your environment with a newer Python")


@pytest.mark.parametrize("version, expected", [
    ("2.5.1+cu121", (2, 5)), ("0.20.0.dev20240601", (0, 20)), ("2.14.1", (2, 14)), ("1.9", (1, 9)),
])
def test_release_reads_local_and_development_versions(version, expected):
    assert environment.release(version) == expected


def test_an_unreadable_version_is_an_error():
    with pytest.raises(ValueError, match="cannot read a version number from 'unknown'"):
        environment.release("unknown")
