"""Kernel confinement of a task process: Landlock, namespaces, capabilities (Linux, stdlib + ctypes).

Runs inside the task processes (the worker loads it by path), so it imports
the standard library only. Every function raises ``ConfinementError`` when
the kernel refuses; the caller decides whether that is fatal.

Landlock is the kernel's unprivileged access-control sandbox
(https://docs.kernel.org/userspace-api/landlock.html). A process restricts
itself once, irreversibly, and so do all processes it starts:

* filesystem (ABI 1+): only the listed folders, read-only or read-write;
  nothing may be executed;
* TCP (ABI 4+): no ``bind`` and no ``connect``;
* scopes (ABI 6+): no signal to, and no abstract unix socket of, a process
  outside the sandbox.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from dataclasses import dataclass

# syscall numbers: the same in the generic table (aarch64) and on x86_64
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

FS_READ_ONLY = FS_READ_FILE | FS_READ_DIR
FS_ALL_ABI_1 = (1 << 13) - 1
# within its own folder a task may do everything but execute and create devices
FS_READ_WRITE = FS_ALL_ABI_1 & ~(FS_EXECUTE | FS_MAKE_CHAR | FS_MAKE_BLOCK) | FS_REFER | FS_TRUNCATE

PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
OOM_SCORE_ADJ_MAX = 1000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ConfinementError(OSError):
    """The kernel refused a confinement step."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise ConfinementError(errno, f"{what}: {os.strerror(errno)}")
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled."""
    version = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                            ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _fs_rights(abi: int) -> int:
    rights = FS_ALL_ABI_1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def landlock_restrict(read_only: list[str], read_write: list[str]) -> int:
    """Restrict this process (and its future children) with Landlock; returns the ABI used.

    Folders or files in ``read_only`` may be read, those in ``read_write``
    also changed; nothing else may be opened, nothing may be executed. With
    ABI 4+ TCP bind/connect are denied, with ABI 6+ signals and abstract
    unix sockets are scoped to the sandbox. Paths that do not exist are
    skipped. Sets no_new_privs, as Landlock requires.
    """
    abi = landlock_abi()
    if abi < 1:
        raise ConfinementError(0, "Landlock is not available in this kernel")
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                        (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _check(_libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                                   ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for paths, access in ((read_only, FS_READ_ONLY), (read_write, FS_READ_WRITE & handled)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    # a file (not a folder) accepts only file rights
                    if not os.path.isdir(path):
                        rights = access & (FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_EXECUTE | FS_IOCTL_DEV)
                    else:
                        rights = access
                    rule = _PathBeneathAttr(rights, fd)
                    _check(_libc.syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                                         ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule),
                                         ctypes.c_uint32(0)), f"landlock_add_rule {path}")
                finally:
                    os.close(fd)
        set_no_new_privs()
        _check(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def set_no_new_privs() -> None:
    """No setuid binary or file capability can give this process or its children more rights."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def set_parent_death_signal(signal_number: int) -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def setns(fd: int, nstype: int) -> int:
    """Join the namespace open as ``fd`` (for CLONE_NEWPID: the one of the caller's next children); 0."""
    return _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), f"setns({nstype:#x})")


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def enter_user_namespace() -> None:
    """Become root of a new user namespace mapped to this process's own ids (no privilege outside).

    Lets an unprivileged grader create PID and network namespaces.
    """
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")


def set_capabilities(capabilities: tuple[int, ...]) -> None:
    """Keep exactly ``capabilities`` (effective and permitted); drop every other one."""
    number = SYS_CAPSET.get(platform.machine())
    if number is None:
        raise ConfinementError(0, f"capset: unknown syscall number on {platform.machine()}")
    mask = [0, 0]
    for capability in capabilities:
        mask[capability // 32] |= 1 << (capability % 32)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(*[_CapData(m, m, 0) for m in mask])
    _check(_libc.syscall(number, ctypes.byref(header), data), "capset")


def switch_user(uid: int, keep_read_search: bool) -> None:
    """Become ``uid`` (also as group id, no supplementary groups); only root may do this.

    With ``keep_read_search`` the process keeps CAP_DAC_READ_SEARCH (read any
    file, whatever its mode) and nothing else: used together with Landlock,
    which then decides alone which folders may be read.
    """
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    if keep_read_search:
        _check(_libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
    os.setresuid(uid, uid, uid)
    if keep_read_search:
        set_capabilities((CAP_DAC_READ_SEARCH,))


# ---------------------------------------------------------------- seccomp

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
AF_UNIX = 1
X32_SYSCALL_BIT = 0x40000000


@dataclass(frozen=True)
class _Syscalls:
    """The audit architecture and the numbers of the system calls the filter looks at, for one machine."""

    audit_arch: int
    socket: int
    socketpair: int
    fcntl: int
    # denied whatever their arguments: setsid, setpgid, flock, memfd_create, memfd_secret, SysV shared memory
    # and message queues, inotify
    denied: tuple[int, ...]


SECCOMP_ARCHES = {
    "x86_64": _Syscalls(0xC000003E, socket=41, socketpair=53, fcntl=72,
                        denied=(112, 109, 73, 319, 447, 29, 68, 253, 294, 254)),
    "aarch64": _Syscalls(0xC00000B7, socket=198, socketpair=199, fcntl=25,
                         denied=(157, 154, 32, 279, 447, 194, 186, 26, 27)),
}
# fcntl commands denied: byte-range locks (F_GETLK, F_SETLK, F_SETLKW and their "open file description"
# variants), leases and directory notifications
DENIED_FCNTL_COMMANDS = (5, 6, 7, 36, 37, 38, 1024, 1025, 1026)
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JA = 0x05
BPF_RET_K = 0x06
SECCOMP_DATA_ARCH = 4
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARG0 = 16
SECCOMP_DATA_ARG1 = 24


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _filter_program(calls: _Syscalls) -> list[tuple[int, int, int, int]]:
    """The BPF program of ``deny_syscalls``: (code, jump if true, jump if false, constant) per instruction.

    Jumps are written with labels and resolved at the end; a jump goes
    forward by the number of instructions it skips.
    """
    program: list[tuple[int, object, object, int]] = [
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH),
        (BPF_JEQ_K, 0, "allow", calls.audit_arch),  # another ABI: allowed (it cannot be this process's)
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        (BPF_JGE_K, "deny", 0, X32_SYSCALL_BIT),  # x32 calls: denied
        *((BPF_JEQ_K, "deny", 0, number) for number in calls.denied),
        (BPF_JEQ_K, "socket", 0, calls.socket),
        (BPF_JEQ_K, "socket", 0, calls.socketpair),
        (BPF_JEQ_K, "fcntl", "allow", calls.fcntl),
        ("socket", None, None, 0),
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARG0),
        (BPF_JEQ_K, "deny", "allow", AF_UNIX),
        ("fcntl", None, None, 0),
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARG1),
        *((BPF_JEQ_K, "deny", 0, command) for command in DENIED_FCNTL_COMMANDS),
        ("allow", None, None, 0),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ("deny", None, None, 0),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
    ]
    labels, instructions = {}, []
    for entry in program:
        if isinstance(entry[0], str):
            labels[entry[0]] = len(instructions)
        else:
            instructions.append(entry)

    def offset(target: object, index: int) -> int:
        return labels[target] - index - 1 if isinstance(target, str) else int(target)

    return [(code, offset(true, index), offset(false, index), constant)
            for index, (code, true, false, constant) in enumerate(instructions)]


def deny_syscalls() -> None:
    """A seccomp filter against what Landlock and the resource limits do not cover. Needs no_new_privs.

    * unix sockets (named ones are files Landlock does not guard): no
      service on the machine (the system bus, an agent) can be reached;
    * ``setsid``, ``setpgid``: a task's processes stay in its slot's process
      group (stopping the worker's group stops them) and scheduling group;
    * ``flock``, ``fcntl`` locks, leases and directory notifications,
      ``inotify``: two tasks running at the same time cannot signal each
      other through the read-only files they share;
    * ``memfd_create``, ``memfd_secret``, SysV shared memory and message
      queues: memory that no address-space limit counts.
    """
    calls = SECCOMP_ARCHES.get(platform.machine())
    if calls is None:
        raise ConfinementError(0, f"seccomp: unknown architecture {platform.machine()}")
    program = _filter_program(calls)
    filters = (_SockFilter * len(program))(*[_SockFilter(*instruction) for instruction in program])
    fprog = _SockFprog(len(program), filters)
    set_no_new_privs()
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")


def make_first_to_be_killed() -> None:
    """Mark this process (and what it starts) as the one the kernel kills first when memory runs out."""
    with open("/proc/self/oom_score_adj", "w") as file:
        file.write(str(OOM_SCORE_ADJ_MAX))
