"""The Gradescope autograder: the zip, which file is graded, results.json as the specification wants it.

The slow test unpacks the built zip into temporary folders laid out as
Gradescope lays out /autograder (``source/``, ``submission/``, ``results/``,
``run_autograder`` at the top, the Python environment as ``venv``) and runs
``run_autograder`` on the reference notebook, the released stub, a
one-mistake notebook and an unreadable file.
"""
from __future__ import annotations

import copy
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from notebook_edits import with_region

from instructor.autograder.build import (
    AUTOGRADER_REQUIREMENTS,
    NOT_FOR_GRADING,
    RUN_SCRIPT,
    SETUP_SCRIPT,
    BuildError,
    build_zip,
    torch_pins,
)
from instructor.autograder.results import (
    REVIEW_VISIBILITY,
    check_tables,
    choose_submission,
    gradescope_results,
    nothing_to_grade,
)
from instructor.release import build_release
from instructor.shipped import PROJECT_ROOT

SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope_results.schema.json").read_text(encoding="utf-8"))
NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
# run_autograder's own limit here: a loaded two-core machine grades one submission in well under this
RUN_TIMEOUT_S = 600


def validate(results: dict) -> None:
    jsonschema.validate(results, SCHEMA, cls=jsonschema.Draft202012Validator)


def full_entry(points_lost: dict[str, list[str]] | None = None, review: list[str] | None = None) -> dict:
    """A gradebook entry as ``to_json`` writes it, with the checks in ``points_lost`` failed."""
    tasks = {}
    for task, (_, checks) in check_tables().items():
        failed = (points_lost or {}).get(task, [])
        points = sum(p for check, (p, _) in checks.items() if check not in failed)
        tasks[task] = {"points": points, "max_points": sum(p for p, _ in checks.values()), "status": "graded",
                       "failed": failed, "messages": [f"message of {check}" for check in failed]}
    return {"id": "s", "path": "s.ipynb", "points": sum(t["points"] for t in tasks.values()),
            "max_points": sum(t["max_points"] for t in tasks.values()), "review": review or [], "tasks": tasks}


# --------------------------------------------------------------------- zip


def test_zip_has_the_scripts_at_its_root_and_the_grader(tmp_path):
    path = build_zip(tmp_path / "autograder.zip")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read(SETUP_SCRIPT).decode()
        requirements = archive.read(AUTOGRADER_REQUIREMENTS).decode()
    assert {SETUP_SCRIPT, RUN_SCRIPT, "solution.py", "utils.py", "instructor/grading/core.py",
            "instructor/autograder/run.py", "instructor/tasks/__init__.py", "ex4/__init__.py"} <= names
    assert not any("__pycache__" in name or name.startswith("tests/") for name in names)
    assert modes[RUN_SCRIPT] & stat.S_IXUSR and modes[SETUP_SCRIPT] & stat.S_IXUSR
    pins = torch_pins((PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert f'"torch=={pins["torch"]}+cpu"' in setup and f'"torchvision=={pins["torchvision"]}+cpu"' in setup
    assert "download.pytorch.org/whl/cpu" in setup
    lines = {re.split(r"[<>=!~ ]", line)[0].lower() for line in requirements.splitlines()}
    assert not lines & (NOT_FOR_GRADING | {"torch", "torchvision"}) and "nbformat" in lines


def test_building_twice_gives_the_same_bytes(tmp_path):
    first = build_zip(tmp_path / "a.zip").read_bytes()
    assert build_zip(tmp_path / "a.zip").read_bytes() == first


def test_a_file_that_is_not_an_autograder_is_never_overwritten(tmp_path):
    other = tmp_path / "grades.zip"
    other.write_bytes(b"not mine")
    with pytest.raises(BuildError, match="refusing to overwrite"):
        build_zip(other)
    assert other.read_bytes() == b"not mine"


def test_unpinned_torch_is_a_clear_error():
    with pytest.raises(BuildError, match="must pin torchvision"):
        torch_pins("torch==2.14.1\ntorchvision>=0.20\n")


def test_shell_scripts_parse(tmp_path):
    path = build_zip(tmp_path / "autograder.zip")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "source")
    for script in (SETUP_SCRIPT, RUN_SCRIPT):
        subprocess.run(["bash", "-n", str(tmp_path / "source" / script)], check=True)


# --------------------------------------------------------------------- which file


def test_the_file_with_the_graded_names_is_chosen_and_named(tmp_path):
    (tmp_path / "utils.py").write_text("def seed_everything(seed):\n    pass\n")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "my_ex4.py").write_text("class SimpleMLP:\n    pass\ndef train():\n    pass\n")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_text(NOTEBOOK.read_text(encoding="utf-8"))
    choice = choose_submission(tmp_path)
    assert choice.path == tmp_path / "work" / "my_ex4.py"
    assert "work/my_ex4.py" in choice.note and "utils.py" in choice.note and "x.ipynb" not in choice.note


def test_a_notebook_goes_before_its_py_export(tmp_path):
    text = NOTEBOOK.read_text(encoding="utf-8")
    (tmp_path / "answers.ipynb").write_text(text)
    (tmp_path / "answers.py").write_text("\n".join(f"{name} = 1" for name in (
        "SimpleMLP", "train", "compute_accuracy", "compute_accuracy_per_class", "model1", "model2", "model3",
        "optimizers")))
    assert choose_submission(tmp_path).path == tmp_path / "answers.ipynb"


def test_no_file_to_grade_gives_zero_and_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    choice = choose_submission(tmp_path)
    results = nothing_to_grade(choice.note, check_tables())
    assert choice.path is None and results["score"] == 0 and ".ipynb" in results["output"]
    validate(results)


# --------------------------------------------------------------------- results.json


def test_checks_become_tests_whose_scores_add_up_to_the_gradebook():
    entry = full_entry({"1a": ["same_function"], "3b": ["int_keys", "float_values"]})
    results = gradescope_results(entry, check_tables(), "Graded s.ipynb.")
    validate(results)
    assert results["score"] == entry["points"] == sum(test["score"] for test in results["tests"])
    assert sum(test["max_score"] for test in results["tests"]) == entry["max_points"]
    failed = [test["name"] for test in results["tests"] if test["status"] == "failed"]
    labels = {check: label for task in ("1a", "3b") for check, (_, label) in check_tables()[task][1].items()}
    assert len(failed) == 3 and all(any(labels[c] in name for name in failed)
                                    for c in ("same_function", "int_keys", "float_values"))
    assert any("message of same_function" in test["output"] for test in results["tests"])


def test_a_task_not_graded_scores_zero_on_every_check():
    entry = full_entry()
    entry["tasks"]["2a"].update(points=0, status="timeout", failed=[], messages=["the code ran too long"])
    entry["points"] -= entry["tasks"]["2a"]["max_points"]
    results = gradescope_results(entry, check_tables(), "")
    two_a = [test for test in results["tests"] if test["name"].startswith("Task 2a")]
    assert two_a and all(test["score"] == 0 and "ran too long" in test["output"] for test in two_a)
    assert results["score"] == sum(test["score"] for test in results["tests"])


def test_points_that_the_checks_do_not_explain_are_refused():
    entry = full_entry()
    entry["tasks"]["3a"]["points"] -= 1
    with pytest.raises(ValueError, match="Task 3a"):
        gradescope_results(entry, check_tables(), "")


def test_review_flags_are_hidden_from_students():
    results = gradescope_results(full_entry(review=["sys._getframe, cell 16 line 3"]), check_tables(), "")
    validate(results)
    flagged = [test for test in results["tests"] if "_getframe" in test["output"]]
    assert len(flagged) == 1 and flagged[0]["visibility"] == REVIEW_VISIBILITY == "hidden"
    assert flagged[0]["max_score"] == 0 and "_getframe" not in results["output"]


def test_an_unreadable_file_is_said_at_the_top():
    entry = full_entry()
    for grade in entry["tasks"].values():
        grade.update(points=0, status="missing", failed=[], messages=["s.ipynb is not valid JSON"])
    entry["points"] = 0
    results = gradescope_results(entry, check_tables(), "Graded s.ipynb.")
    assert "could not be read" in results["output"] and "not valid JSON" in results["output"]


def test_the_schema_refuses_what_gradescope_does_not_know():
    results = gradescope_results(full_entry(), check_tables(), "")
    for broken in ({**results, "visibility": "students"}, {**results, "scor": 3},
                   {**results, "tests": [{**results["tests"][0], "status": "ok"}]}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


# --------------------------------------------------------------------- the zip as Gradescope runs it


def gradescope_root(folder: Path, zip_path: Path, submission: Path, name: str) -> Path:
    """``folder`` laid out as Gradescope lays out /autograder, with ``submission`` submitted as ``name``."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder / "source")
    for script in (SETUP_SCRIPT, RUN_SCRIPT):
        (folder / "source" / script).chmod(0o755)
    (folder / RUN_SCRIPT).write_bytes((folder / "source" / RUN_SCRIPT).read_bytes())
    (folder / RUN_SCRIPT).chmod(0o755)
    (folder / "submission").mkdir()
    (folder / "submission" / name).write_bytes(submission.read_bytes())
    (folder / "venv").symlink_to(sys.prefix, target_is_directory=True)
    return folder


def one_mistake(folder: Path) -> Path:
    """The reference notebook whose compute_accuracy returns a tensor: only 3a's returns_float fails."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with_region(notebook, "3a", """
        predicted = model(batch).argmax(dim=1)
        n_correctly_classified += (predicted == labels).sum()
        n_samples += labels.numel()
        """)
    path = folder / "one_mistake.ipynb"
    nbformat.write(copy.deepcopy(notebook), path)
    return path


@pytest.fixture(scope="module")
def gradescope_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    zip_path = build_zip(base / "autograder.zip")
    release_zip = build_release(base / "release" / "student")
    garbage = base / "garbage.ipynb"
    garbage.write_text("{ this is not a notebook")
    submissions = {"reference": (NOTEBOOK, "Ex4_Optimization2.ipynb"),
                   "stub": (release_zip.with_suffix("") / "Ex4_Optimization2.ipynb", "Ex4_Optimization2.ipynb"),
                   "one_mistake": (one_mistake(base), "my notebook.ipynb"),
                   "garbage": (garbage, "Ex4_Optimization2.ipynb")}
    roots = {name: gradescope_root(base / name, zip_path, path, as_name)
             for name, (path, as_name) in submissions.items()}
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    processes = {name: subprocess.Popen([str(root / RUN_SCRIPT)], cwd=root, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        env={**environment, "AUTOGRADER_ROOT": str(root)})
                 for name, root in roots.items()}
    outcomes = {}
    for name, process in processes.items():
        stdout, _ = process.communicate(timeout=RUN_TIMEOUT_S)
        results_file = roots[name] / "results" / "results.json"
        assert results_file.is_file(), f"{name}: no results.json; run_autograder printed:\n{stdout}"
        outcomes[name] = (process.returncode, json.loads(results_file.read_text(encoding="utf-8")), stdout)
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reference", "stub", "one_mistake", "garbage"])
def test_run_autograder_gives_the_gradebook_points(gradescope_runs, name):
    # the table's points: full, nothing for the stub and an unreadable file, one check lost
    full = sum(points for _, checks in check_tables().values() for points, _ in checks.values())
    points = {"reference": full, "stub": 0, "garbage": 0,
              "one_mistake": full - check_tables()["3a"][1]["returns_float"][0]}[name]
    returncode, results, stdout = gradescope_runs[name]
    assert returncode == 0, stdout
    validate(results)
    assert results["score"] == points == sum(test["score"] for test in results["tests"]), stdout
    assert sum(test["max_score"] for test in results["tests"]) == full
    assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0


@pytest.mark.slow
def test_the_one_mistake_fails_exactly_its_check(gradescope_runs):
    _, results, _ = gradescope_runs["one_mistake"]
    failed = [test for test in results["tests"] if test["status"] == "failed"]
    label = check_tables()["3a"][1]["returns_float"][1]
    assert [test["name"] for test in failed] == [f"Task 3a {check_tables()['3a'][0]}: {label}"]
    assert failed[0]["score"] == 0 and failed[0]["max_score"] == 2 and "float" in failed[0]["output"]
    assert "my notebook.ipynb" in results["output"]


@pytest.mark.slow
def test_an_unreadable_submission_is_explained_at_the_top(gradescope_runs):
    _, results, _ = gradescope_runs["garbage"]
    assert "could not be read" in results["output"]
