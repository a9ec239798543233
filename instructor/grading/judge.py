"""A task's grade from its task process's outcome: the task module's verdict, or 0 points and why not."""
from __future__ import annotations

from ex4.tasks import POINTS as TASK_POINTS
from ex4.tasks import TASK_MODULES
from instructor.grading.verdicts import TaskGrade

VERDICTS = {module.TASK: module.verdict for module in TASK_MODULES}
# task -> check -> points: what each task's points are split into
CHECK_POINTS = {module.TASK: {name: points for name, (points, _) in module.CHECKS.items()} for module in TASK_MODULES}
# task -> check -> what it tests, for students
CHECK_LABELS = {module.TASK: {name: label for name, (_, label) in module.CHECKS.items()} for module in TASK_MODULES}


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
        grade = VERDICTS[task](outcome["result"], reference_result)
        cell_error = outcome["result"].get("cell_error")
        if cell_error and grade.points < grade.max_points:
            grade.messages.append(f"the task's cell raised {cell_error}")
        return grade
    except Exception as exc:  # noqa: BLE001 -- results are untrusted data; any malformation costs the task only
        return zero(task, f"the task's results could not be read ({type(exc).__name__}: {exc}); "
                          "did the code replace objects the grader passed in?", "unreadable")
