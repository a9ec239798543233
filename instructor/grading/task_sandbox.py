"""The sandbox set up for the sheet's tasks: what the task processes import and run.

``task_sandbox`` starts a ``grading.sandbox.Sandbox`` whose task processes
run ``instructor.grading.probes.run_probe`` on each job; the files they may
read are the student-side modules (``instructor/shipped.py``), the grader's
probe tools and the task registry's probe modules (``instructor/tasks``),
never the reference or its replays.
"""
from __future__ import annotations

from instructor.grading.sandbox import Limits, Sandbox, SandboxSetup
from instructor.shipped import PROJECT_ROOT, student_code_files
from instructor.tasks import REGISTRY

# what the task modules' probes import from the grader, copied read-only beside the student code
TASK_SIDE_MODULES = ("instructor/__init__.py", "instructor/grading/__init__.py", "instructor/grading/probes.py",
                     "instructor/grading/task_namespace.py", "instructor/grading/verdicts.py",
                     "instructor/grading/student_text.py")
PROBES_MODULE = "instructor.grading.probes"
# imported by every worker before forking, so that tasks do not pay for them (torch._dynamo: the first
# optimizer imports it, 2 s per task otherwise; matplotlib.pyplot builds the font list once)
PRELOADED_MODULES = ("torch", "torch._dynamo", "torch.nn.functional", "torch.optim", "matplotlib",
                     "matplotlib.pyplot", "numpy", "tqdm", "utils", "ex4.self_checks", "ex4.model_properties",
                     PROBES_MODULE)


def module_name(relative: str) -> str:
    """The dotted name of the module at ``relative`` in the module folder ("a/b/__init__.py" -> "a.b")."""
    return relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def task_setup() -> SandboxSetup:
    """Student code, the probe tools and the registry's task modules (read when the sandbox starts)."""
    task_modules = REGISTRY.sandbox_modules()
    shipped = {relative: PROJECT_ROOT / relative for relative in (*student_code_files(), *TASK_SIDE_MODULES)}
    shipped.update(task_modules)
    preload = (*PRELOADED_MODULES, *(module_name(relative) for relative in task_modules))
    return SandboxSetup(shipped=shipped, preload=preload, runner=PROBES_MODULE, excluded=PROJECT_ROOT,
                        run="run_probe", describe="describe_exception")


def task_sandbox(limits: Limits, slots: int, kernel_confinement: bool = True) -> Sandbox:
    """A sandbox with ``slots`` workers whose task processes run the probes (see ``grading.probes``)."""
    return Sandbox(limits, slots, task_setup(), kernel_confinement)
