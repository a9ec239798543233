"""Review flags: the places where a submission uses introspection or low-level process and file tricks.

``review_flags`` lists uses of ``sys._getframe``, ``inspect`` frames,
``ctypes``, raw ``os`` file descriptors and processes, ``socket``,
``subprocess``, ``/proc``, ..., e.g. ``"sys._getframe, cell 16 line 3"``: one
entry per place, at most ``MAX_REVIEW_FLAGS``.
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
REVIEW_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame",
                               "__globals__", "__subclasses__"})
REVIEW_NAMES = frozenset({"__builtins__", "__import__"})


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


def _node_flags(node: ast.AST, aliases: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """(flags, secondary flags) for one node."""
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
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc" in node.value:
        return ["/proc"], []
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
