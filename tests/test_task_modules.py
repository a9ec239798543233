"""The task modules: each holds its task whole, its shipped part stands alone, the README's table is theirs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ex4 import self_checks, tasks
from instructor import points_table
from instructor.shipped import student_version

TASKS_DIR = Path(tasks.__file__).resolve().parent


@pytest.mark.parametrize("module", tasks.TASK_MODULES, ids=lambda module: module.TASK)
def test_a_task_module_holds_points_self_check_probe_and_verdict(module):
    assert Path(module.__file__).name == f"task_{module.TASK}.py"
    assert sum(points for points, _ in module.CHECKS.values()) == module.POINTS
    assert set(module.WORK_CHECKS) <= set(module.CHECKS)
    assert all(isinstance(label, str) and label for _, label in module.CHECKS.values())
    for name in ("probe", "verdict", f"task_{module.TASK}_results", f"check_task_{module.TASK}"):
        assert callable(getattr(module, name)), f"task_{module.TASK}.py has no {name}"
    assert getattr(self_checks, f"check_task_{module.TASK}") is getattr(module, f"check_task_{module.TASK}")


def test_the_tasks_are_the_notebooks_in_order_with_100_points():
    assert tasks.TASKS == ("1a", "1b", "2a", "2b", "3a", "3b")
    assert sum(tasks.POINTS.values()) == 100
    assert sorted(path.name for path in TASKS_DIR.glob("task_*.py")) == [f"task_{t}.py" for t in tasks.TASKS]


@pytest.mark.parametrize("path", sorted(TASKS_DIR.glob("task_*.py")), ids=lambda path: path.stem)
def test_the_shipped_part_uses_nothing_of_the_grader_part(path):
    """Students get the module up to its grader-only line: ruff finds no undefined or unused name in that part."""
    shipped = student_version(f"ex4/tasks/{path.name}", path.read_text(encoding="utf-8"))
    assert "def verdict(" not in shipped and "def probe(" not in shipped
    completed = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F821,F401,F811",
                                "--stdin-filename", f"shipped_{path.name}", "-"], input=shipped, text=True,
                               capture_output=True, check=False)
    assert completed.returncode == 0, completed.stdout


def test_the_readme_table_is_the_task_modules():
    readme = (Path(points_table.README_PATH)).read_text(encoding="utf-8")
    assert points_table.with_table(readme) == readme, "run: python -m instructor.points_table --write"
    for module in tasks.TASK_MODULES:
        assert f"| {module.TASK}: {module.TITLE} | {module.POINTS} |" in readme


def test_a_stale_readme_table_is_rewritten():
    stale = f"intro\n{points_table.BEGIN}\n| 1a | 99 |\n{points_table.END}\noutro\n"
    fresh = points_table.with_table(stale)
    assert fresh.startswith("intro\n") and fresh.endswith("outro\n") and "| 99 |" not in fresh
    assert points_table.render() in fresh
    with pytest.raises(ValueError, match="needs the lines"):
        points_table.with_table("no markers")
