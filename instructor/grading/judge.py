"""A task's grade from its task process's outcome: the task module's verdict, or 0 points and why not."""
from __future__ import annotations

from instructor.grading.verdicts import TaskGrade
from instructor.tasks import REGISTRY, LiveMapping

# task -> points, task -> check -> points (what each task's points are split into), task -> check -> what it
# tests for students: views of the registry
TASK_POINTS = LiveMapping(lambda: {task.id: task.points for task in REGISTRY.tasks()})
CHECK_POINTS = LiveMapping(lambda: {task.id: {name: points for name, (points, _) in task.checks.items()}
                                    for task in REGISTRY.tasks()})
CHECK_LABELS = LiveMapping(lambda: {task.id: {name: label for name, (_, label) in task.checks.items()}
                                    for task in REGISTRY.tasks()})


def zero(task: str, message: str, status: str) -> TaskGrade:
    return TaskGrade(0, TASK_POINTS[task], [message], status, [])


def grade_task(task: str, outcome: dict, reference_result: dict) -> TaskGrade:
    """Points for one task from the sandbox ``outcome`` ({status, result | error})."""
    status = outcome.get("status")
    if status == "missing":
        return zero(task, f"not graded: {outcome.get('error')}", "missing")
    if status != "ok":
        action = {"timeout": "", "crashed": ""}.get(status, "raised ")
        return zero(task, f"the code {action}{outcome.get('error')}",
                    status if status in ("timeout", "crashed") else "error")
    try:
        grade = REGISTRY.task(task).verdict(outcome["result"], reference_result)
        cell_error = outcome["result"].get("cell_error")
        if cell_error and grade.points < grade.max_points:
            grade.messages.append(f"the task's cell raised {cell_error}")
        return grade
    except Exception as exc:  # noqa: BLE001 -- results are untrusted data; any malformation costs the task only
        return zero(task, f"the task's results could not be read ({type(exc).__name__}: {exc}); "
                          "did the code replace objects the grader passed in?", "unreadable")
