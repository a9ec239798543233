"""Run untrusted jobs in confined processes and collect their results as checked JSON data.

What the sandbox guarantees, and what not, is written once, for
instructors, in ``docs/untrusted-code.md``. The sandbox knows nothing of what
a job means: the caller names the files to ship, the modules to preload and
the runner (``SandboxSetup``).

Layout of one run::

    grading process -- never runs untrusted code; writes each job into a fresh work folder
      +-- worker.py, one per slot: preloads modules once, never reads a job or a result
      |     +-- one task process per job, in namespaces of its own (as a normal user under a reaper; worker.py)
      |     +-- worker.py of each other slot, forked once it has preloaded (its own session and pipes)

Modules: ``handle`` (``Sandbox``: the grader's side), ``slots`` (``WorkerHandle``: start and talk to the workers),
``worker`` (the worker process), ``confinement`` (Landlock, namespaces,
capabilities, seccomp), ``cgroups`` (a memory cgroup per task), ``protocol`` (job and result files, ``Limits``,
``TaskRun``), ``environment`` (import path, user ids, stale folders).
"""
from instructor.grading.sandbox.environment import GradingProcessError
from instructor.grading.sandbox.handle import Sandbox, SandboxSetup
from instructor.grading.sandbox.protocol import Limits, TaskRun

__all__ = ["GradingProcessError", "Limits", "Sandbox", "SandboxSetup", "TaskRun"]
