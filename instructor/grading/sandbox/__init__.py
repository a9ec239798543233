"""Run untrusted jobs in confined processes and collect their results as checked JSON data.

This docstring is the one statement of what the sandbox guarantees; the
README points here. The sandbox knows nothing of what a job means: the caller
names the files to ship, the modules to preload and the runner
(``SandboxSetup``).

Layout of one run::

    grading process -- never runs untrusted code; writes each job into a fresh work folder
      +-- worker.py, one per slot: preloads modules once, never reads a job or a result
            +-- one reaper + task process per job (see worker.py)

Modules: ``handle`` (``Sandbox``, ``WorkerHandle``: the grader's side),
``worker`` (the worker process), ``confinement`` (Landlock, namespaces,
capabilities, seccomp), ``cgroups`` (a memory cgroup per task), ``protocol`` (job and result files, ``Limits``,
``TaskRun``), ``environment`` (import path, user ids, stale folders).

What a task process can do
    * Read only the Python environment (what a fresh interpreter of the
      grader's own finds: stdlib, site-packages and what ``.pth`` files add;
      never the grader's working directory or ``PYTHONPATH``, and never the
      excluded project folder), the shipped files and system libraries; read
      and write only its own work folder; execute nothing (Landlock).
    * No TCP bind or connect (Landlock ABI 4+), no signal to a process
      outside its sandbox (ABI 6+), no unix socket, no ``setsid`` (seccomp).
    * No channel to a task running at the same time through the files they
      share: ``flock``, ``fcntl`` byte-range locks, leases, directory
      notifications and ``inotify`` are denied (seccomp); runs of one group
      (one submission) never run at the same time anyway.
    * Its own PID, network and IPC namespaces (a user namespace too when the
      grader is not root): every process it starts dies with it; no network.
    * As root: a user id of its own, drawn at random for each task from a
      range no account uses and checked unused by any running process.
    * Limits: wall-clock timeout, address space (``RLIMIT_AS``, per
      process), CPU time, file size, processes. Where the kernel lets the
      grader create cgroups (root with cgroup v1, or cgroup v2 with the
      memory controller delegated), a memory cgroup per task counts all its
      processes' memory together, whatever form it takes, and the kernel's
      out-of-memory killer acts inside it (``cgroups``). Memory no
      address-space limit counts is denied anyway: ``memfd_create``,
      ``memfd_secret``, SysV shared memory and message queues (seccomp). Its
      ``oom_score_adj`` is the highest, so that when memory runs out the
      kernel kills a task, never a worker or the grader.

What the grader does with what a task leaves
    The result file is read without following links, capped in size,
    parsed as plain JSON, and its nesting, numbers and strings bounded
    (``protocol``). The task's work folder is removed when it ends; scratch
    folders of a run whose grading process died are removed by the next run.

Not covered
    The grader checks at start what the kernel grants and says in one line
    what is not protected (``Sandbox.not_protected``): without Landlock,
    seccomp, namespaces or a memory cgroup the corresponding guarantees
    above do not hold; without a memory cgroup (e.g. grading as a normal
    user) memory is counted per process, so a task that starts several
    processes may use the cap once per process, up to its process limit.
    Timing (CPU contention) between tasks running at the same time is not
    hidden.
"""
from instructor.grading.sandbox.environment import GradingProcessError
from instructor.grading.sandbox.handle import Sandbox, SandboxSetup
from instructor.grading.sandbox.protocol import Limits, TaskRun

__all__ = ["GradingProcessError", "Limits", "Sandbox", "SandboxSetup", "TaskRun"]
