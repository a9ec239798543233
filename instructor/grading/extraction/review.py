"""Review flags: the places where a submission uses introspection or low-level process and file tricks.

``review_flags`` lists uses of ``sys._getframe``, ``inspect`` frames,
``ctypes``, raw ``os`` file descriptors and processes, ``socket``,
``subprocess``, ``/proc``, ..., e.g. ``"sys._getframe, cell 16 line 3"``: one
entry per place, at most ``MAX_REVIEW_FLAGS``. A name built at run time slips
past a list of names, so the ways to build one are flagged too: code run
from a string (``eval``, ``exec``, ``compile``), attributes looked up by a
computed name (``getattr``/``setattr``/``delattr`` without a literal name),
the namespaces themselves (``globals()``, ``vars()``, ``__dict__``), a
function's code and bindings (``__code__``, ``__closure__``, ...), and any
string naming the grader's package.
"""
from __future__ import annotations

import ast

from instructor.grading.extraction.cells import Cell
from instructor.grading.text import escaped

MAX_REVIEW_FLAGS = 20
# modules flagged wherever they are imported, members of others, attributes, strings
REVIEW_MODULES = frozenset({"gc", "ctypes", "signal", "socket", "subprocess", "builtins", "importlib",
                            "posix", "pty", "fcntl", "mmap", "resource"})
REVIEW_MEMBERS = {
    "sys": frozenset({"_getframe", "modules", "_current_frames", "settrace", "setprofile"}),
    "inspect": frozenset({"currentframe", "stack", "trace", "getouterframes", "getinnerframes", "getframeinfo",
                          "getargvalues", "getgeneratorlocals", "getcoroutinelocals"}),
    "os": frozenset({"write", "read", "dup", "dup2", "fdopen", "open", "close", "closerange", "pipe", "lseek",
                     "openpty", "fork", "forkpty", "_exit", "kill", "killpg", "setsid", "setpgid", "setpgrp",
                     "system", "popen", "abort"}),
}
REVIEW_OS_PREFIXES = ("exec", "spawn", "posix_spawn")
# frame and globals attributes: flagged where nothing else at the same place is
REVIEW_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "gi_frame",
                               "__globals__", "__subclasses__", "__code__", "__closure__", "__defaults__",
                               "__kwdefaults__", "__dict__", "co_consts", "co_names", "cell_contents"})
REVIEW_NAMES = frozenset({"__builtins__", "__import__"})
# calls that run code from a string or reach a namespace as a whole
REVIEW_CALLS = frozenset({"eval", "exec", "compile", "globals", "locals", "vars"})
# calls that look an attribute up by name: flagged when the name is not a literal
NAMED_LOOKUPS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# a string holding one of these names the grader's own code
GRADER_NAMES = ("instructor", "probe_", "task_namespace", "guard_bindings", "run_probe")


def _import_aliases(cells: list[Cell]) -> dict[str, set[str]]:
    """Local name -> the dotted names it may stand for, from every import of the submission."""
    aliases: dict[str, set[str]] = {}
    for cell in cells:
        if cell.tree is None:
            continue
        for node in ast.walk(cell.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    aliases.setdefault(local, set()).add(alias.name if alias.asname else local)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        aliases.setdefault(alias.asname or alias.name, set()).add(f"{node.module}.{alias.name}")
    return aliases


def _member_flag(dotted: str) -> str:
    """The label of a flagged dotted name (``sys._getframe``; ``socket`` for all of socket), or ''."""
    parts = dotted.split(".")
    if parts[0] in REVIEW_MODULES:
        return parts[0]
    if len(parts) >= 2 and parts[0] in REVIEW_MEMBERS:
        member = parts[1]
        if member in REVIEW_MEMBERS[parts[0]] or (parts[0] == "os" and member.startswith(REVIEW_OS_PREFIXES)):
            return f"{parts[0]}.{member}"
    return ""


# importing one of these is reaching for the grader's own code or the reference
GRADER_PACKAGES = frozenset({"instructor", "solution"})


def _node_flags(node: ast.AST, aliases: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """(flags, secondary flags) for one node."""
    imported_modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                        else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                        else [])
    if any(module.split(".")[0] in GRADER_PACKAGES for module in imported_modules):
        return ["an import of the grader's code"], []
    if isinstance(node, ast.Import):
        return [flag for alias in node.names if (flag := _member_flag(alias.name))], []
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        if node.module.split(".")[0] in REVIEW_MODULES:
            return [_member_flag(node.module)], []
        return [flag for alias in node.names if (flag := _member_flag(f"{node.module}.{alias.name}"))], []
    if isinstance(node, ast.Attribute):
        flags = []
        if isinstance(node.value, ast.Name):
            imported = aliases.get(node.value.id)
            for base in imported or {node.value.id}:
                dotted = f"{base}.{node.attr}"
                if dotted.split(".")[0] in REVIEW_MODULES and not imported:
                    continue  # a variable that happens to share a module's name
                if flag := _member_flag(dotted):
                    flags.append(flag)
        return flags, [node.attr] if node.attr in REVIEW_ATTRIBUTES else []
    if isinstance(node, ast.Name):
        if node.id in REVIEW_NAMES:
            return [node.id], []
        return [flag for dotted in aliases.get(node.id, ()) if "." in dotted and (flag := _member_flag(dotted))
                and dotted.split(".")[0] not in REVIEW_MODULES], []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in REVIEW_CALLS:
            return [f"{node.func.id}()"], []
        name_argument = node.args[1] if node.func.id in NAMED_LOOKUPS and len(node.args) > 1 else None
        if name_argument is not None and not (isinstance(name_argument, ast.Constant)
                                              and isinstance(name_argument.value, str)):
            return [f"{node.func.id} with a computed name"], []
        if (node.func.id in NAMED_LOOKUPS and isinstance(name_argument, ast.Constant)
                and name_argument.value.startswith("__")):
            return [f"{node.func.id} {name_argument.value}"], []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if "/proc" in node.value:
            return ["/proc"], []
        if any(name in node.value for name in GRADER_NAMES):
            return ["a name of the grader's code"], []
    return [], []


def review_flags(cells: list[Cell]) -> tuple[str, ...]:
    """Places where the code uses introspection or low-level process/file tricks, in source order.

    One entry per place, e.g. ``"os.kill/signal, cell 10 line 9"``; a frame
    attribute (``f_back``, ...) is named only where nothing else is.
    """
    aliases = _import_aliases(cells)
    found: dict[tuple[int, int, int], dict[str, None]] = {}
    secondary: dict[tuple[int, int, int], dict[str, None]] = {}
    for cell in cells:
        if cell.tree is None:
            continue
        for node in ast.walk(cell.tree):
            lineno = getattr(node, "lineno", None)
            if lineno is None:
                continue
            flags, weaker = _node_flags(node, aliases)
            key = (cell.position, cell.visible(lineno), 0)
            for flag in flags:
                found.setdefault(key, {})[flag] = None
            for flag in weaker:
                secondary.setdefault(key, {})[flag] = None
    for key, flags in secondary.items():
        if key not in found:
            found[key] = flags
    where = {cell.position: cell.where for cell in cells}
    result = []
    for (position, line, _), flags in sorted(found.items())[:MAX_REVIEW_FLAGS]:
        place = f"{where[position]} line {line}" if where[position] else f"line {line}"
        result.append(escaped(f"{'/'.join(flags)}, {place}"))
    return tuple(result)
