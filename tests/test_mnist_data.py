"""mnist_data.ensure_mnist with small fake MNIST files, and once with the real ones."""
from __future__ import annotations

import hashlib
import shutil
import sys
import types
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from ex4 import mnist_data
from ex4.mnist_data import LOCAL_COPY_ENV_VAR, MNISTUnavailableError, ensure_mnist

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
REAL_MNIST_NAMES = list(mnist_data.MNIST_FILES)
# distinct small sizes, so that a file copied under the wrong name is caught as well
FAKE_SIZES = (40, 24, 32, 16)


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch) -> dict[str, bytes]:
    """Small random contents for the four MNIST names; MNIST_FILES describes them."""
    rng = np.random.default_rng(90)
    contents = {name: rng.bytes(size) for name, size in zip(REAL_MNIST_NAMES, FAKE_SIZES)}
    monkeypatch.setattr(mnist_data, "MNIST_FILES", {
        name: (len(data), hashlib.md5(data).hexdigest()) for name, data in contents.items()})
    monkeypatch.delenv(LOCAL_COPY_ENV_VAR, raising=False)
    return contents


def write_files(folder: Path, contents: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return folder


def folder_contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def truncated(data: bytes) -> bytes:
    return data[:-3]


def flipped_first_byte(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:]


@pytest.fixture
def forbid_download(monkeypatch):
    """Fail the test if ensure_mnist tries to download."""
    def no_download(root):
        pytest.fail(f"ensure_mnist tried to download into {root}")

    monkeypatch.setattr(mnist_data, "_download", no_download)


@pytest.mark.parametrize("layout", [(), ("MNIST", "raw")], ids=["flat", "root/MNIST/raw"])
def test_files_are_copied_from_the_local_copy(fake_mnist, tmp_path, monkeypatch, forbid_download,
                                              layout):
    source = tmp_path / "copy"
    write_files(source.joinpath(*layout), fake_mnist)
    monkeypatch.setenv(LOCAL_COPY_ENV_VAR, str(source))
    raw_dir = ensure_mnist(tmp_path / "data")
    assert raw_dir == tmp_path / "data" / "MNIST" / "raw"
    assert folder_contents(raw_dir) == fake_mnist


def test_only_missing_files_are_copied(fake_mnist, tmp_path, monkeypatch, forbid_download):
    raw_dir = write_files(tmp_path / "data" / "MNIST" / "raw",
                          {name: fake_mnist[name] for name in REAL_MNIST_NAMES[:2]})
    present_mtimes = [(raw_dir / name).stat().st_mtime_ns for name in REAL_MNIST_NAMES[:2]]
    write_files(tmp_path / "copy", fake_mnist)
    monkeypatch.setenv(LOCAL_COPY_ENV_VAR, str(tmp_path / "copy"))
    assert ensure_mnist(tmp_path / "data") == raw_dir
    assert folder_contents(raw_dir) == fake_mnist
    assert [(raw_dir / name).stat().st_mtime_ns for name in REAL_MNIST_NAMES[:2]] == present_mtimes


def test_intact_files_need_neither_copy_nor_download(fake_mnist, tmp_path, forbid_download):
    raw_dir = write_files(tmp_path / "data" / "MNIST" / "raw", fake_mnist)
    assert ensure_mnist(tmp_path / "data") == raw_dir


@pytest.mark.parametrize("damage", [truncated, flipped_first_byte], ids=lambda f: f.__name__)
@pytest.mark.parametrize("with_local_copy", [False, True])
def test_a_corrupt_existing_file_is_reported_and_left_alone(fake_mnist, tmp_path, monkeypatch,
                                                            forbid_download, damage,
                                                            with_local_copy):
    broken_name = REAL_MNIST_NAMES[1]
    on_disk = fake_mnist | {broken_name: damage(fake_mnist[broken_name])}
    raw_dir = write_files(tmp_path / "data" / "MNIST" / "raw", on_disk)
    if with_local_copy:
        monkeypatch.setenv(LOCAL_COPY_ENV_VAR, str(write_files(tmp_path / "copy", fake_mnist)))
    with pytest.raises(MNISTUnavailableError) as error:
        ensure_mnist(tmp_path / "data")
    message = str(error.value)
    assert str(raw_dir / broken_name) in message
    assert "Delete the broken file" in message and LOCAL_COPY_ENV_VAR in message
    assert all(str(raw_dir / name) not in message
               for name in REAL_MNIST_NAMES if name != broken_name)
    assert folder_contents(raw_dir) == on_disk


@pytest.mark.parametrize("damage", [truncated, flipped_first_byte, None],
                         ids=["truncated", "corrupt", "missing"])
def test_a_broken_local_copy_is_a_clear_error_and_copies_nothing(fake_mnist, tmp_path,
                                                                 monkeypatch, forbid_download,
                                                                 damage):
    broken_name = REAL_MNIST_NAMES[2]
    source_files = dict(fake_mnist)
    if damage is None:
        del source_files[broken_name]
    else:
        source_files[broken_name] = damage(fake_mnist[broken_name])
    source = write_files(tmp_path / "copy", source_files)
    monkeypatch.setenv(LOCAL_COPY_ENV_VAR, str(source))
    with pytest.raises(MNISTUnavailableError) as error:
        ensure_mnist(tmp_path / "data")
    message = str(error.value)
    assert f"{LOCAL_COPY_ENV_VAR}={source}" in message
    assert str(source / broken_name) in message
    raw_dir = tmp_path / "data" / "MNIST" / "raw"
    assert not raw_dir.exists() or not any(raw_dir.iterdir())


def test_a_local_copy_folder_that_does_not_exist_is_a_clear_error(fake_mnist, tmp_path,
                                                                  monkeypatch, forbid_download):
    monkeypatch.setenv(LOCAL_COPY_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(MNISTUnavailableError, match="nowhere.* is missing"):
        ensure_mnist(tmp_path / "data")


@pytest.mark.parametrize("failure", [URLError("no route to host"), OSError("network down"),
                                     RuntimeError("Error downloading train-images-idx3-ubyte")],
                         ids=lambda error: type(error).__name__)
def test_a_failed_download_is_one_clear_error(fake_mnist, tmp_path, monkeypatch, failure):
    def unreachable_mnist(root, train, download):
        raise failure

    # the download goes through torchvision.datasets.MNIST; a stand-in module avoids the network
    fake_torchvision = types.ModuleType("torchvision")
    fake_torchvision.datasets = types.SimpleNamespace(MNIST=unreachable_mnist)
    monkeypatch.setitem(sys.modules, "torchvision", fake_torchvision)
    with pytest.raises(MNISTUnavailableError) as error:
        ensure_mnist(tmp_path / "data")
    message = str(error.value)
    assert "downloading it failed" in message and str(failure) in message
    assert LOCAL_COPY_ENV_VAR in message
    assert error.value.__cause__ is None and error.value.__suppress_context__
    # a running Jupyter kernel never sees a variable set later in a shell: the advice is %env in a cell
    assert f"run `%env {LOCAL_COPY_ENV_VAR}=/path/to/the/folder` in a new cell and then this cell again" in message
    assert "restart the kernel" not in message


def test_a_download_that_yields_broken_files_is_reported(fake_mnist, tmp_path, monkeypatch):
    broken_name = REAL_MNIST_NAMES[0]

    def fake_download(root):
        write_files(Path(root) / "MNIST" / "raw",
                    fake_mnist | {broken_name: truncated(fake_mnist[broken_name])})

    monkeypatch.setattr(mnist_data, "_download", fake_download)
    with pytest.raises(MNISTUnavailableError, match=broken_name):
        ensure_mnist(tmp_path / "data")


@pytest.mark.skipif(not (SHARED_DATASETS / "MNIST" / "raw").is_dir(),
                    reason=f"no local MNIST copy in {SHARED_DATASETS}")
def test_the_real_mnist_files_are_accepted(tmp_path, monkeypatch, forbid_download):
    source = SHARED_DATASETS / "MNIST" / "raw"
    raw_dir = tmp_path / "data" / "MNIST" / "raw"
    raw_dir.mkdir(parents=True)
    for name in REAL_MNIST_NAMES:
        shutil.copyfile(source / name, raw_dir / name)
    monkeypatch.delenv(LOCAL_COPY_ENV_VAR, raising=False)
    assert ensure_mnist(tmp_path / "data") == raw_dir
