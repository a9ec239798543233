"""The task registry: each task whole on the instructor's side, the student's side apart, the README's table theirs."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ex4 import self_checks, sheet
from instructor import points_table
from instructor.tasks import REGISTRY, TASKS

TASKS_DIR = Path(self_checks.__file__).resolve().parent / "tasks"


@pytest.mark.parametrize("task", REGISTRY.tasks(), ids=lambda task: task.id)
def test_a_task_holds_points_checks_probe_verdict_and_self_check(task):
    assert sum(points for points, _ in task.checks.values()) == task.points
    assert set(task.work_checks) <= set(task.checks)
    assert all(isinstance(label, str) and label for _, label in task.checks.values())
    assert callable(task.verdict) and task.verdict.__module__ == f"instructor.tasks.task_{task.id}"
    assert task.probe == f"instructor.tasks.probe_{task.id}"
    assert callable(importlib.import_module(task.probe).probe)
    student_module = importlib.import_module(f"ex4.tasks.task_{task.id}")
    for name in (f"task_{task.id}_results", f"check_task_{task.id}"):
        assert callable(getattr(student_module, name)), f"ex4/tasks/task_{task.id}.py has no {name}"
    assert getattr(self_checks, f"check_task_{task.id}") is getattr(student_module, f"check_task_{task.id}")


def test_the_tasks_are_the_notebooks_in_order_with_100_points():
    assert TASKS == tuple(info.id for info in sheet.TASKS) == ("1a", "1b", "2a", "2b", "3a", "3b")
    assert sum(task.points for task in REGISTRY.tasks()) == 100
    assert sorted(path.name for path in TASKS_DIR.glob("task_*.py")) == [f"task_{t}.py" for t in TASKS]


def test_the_readme_table_is_the_registry():
    readme = (Path(points_table.README_PATH)).read_text(encoding="utf-8")
    assert points_table.with_table(readme) == readme, "run: python -m instructor.points_table --write"
    for task in REGISTRY.tasks():
        assert f"| {task.id}: {task.title} | {task.points} |" in readme


def test_a_stale_readme_table_is_rewritten():
    stale = f"intro\n{points_table.BEGIN}\n| 1a | 99 |\n{points_table.END}\noutro\n"
    fresh = points_table.with_table(stale)
    assert fresh.startswith("intro\n") and fresh.endswith("outro\n") and "| 99 |" not in fresh
    assert points_table.render() in fresh
    with pytest.raises(ValueError, match="needs the lines"):
        points_table.with_table("no markers")
