"""Text from student code made safe to show: on one line, with control characters escaped, bounded.

Messages, paths and review flags come from untrusted files and processes. An
escape sequence (``\\x1b[2J``), a carriage return, a NUL, a newline that draws
a forged row, a right-to-left override ("Trojan Source") or a lone surrogate
must not act on a terminal, a file or a page:

* ``one_line``: control characters become spaces, runs of spaces one space,
  at most ``limit`` characters (results and messages of task processes);
* ``escaped``: C0/C1 control characters written as ``\\xNN``, lone surrogates
  as ``\\udNNN`` (problems found while reading a submission);
* ``visible``: every control character, bidi control and lone surrogate as
  an escape, newlines and tabs kept unless ``keep_newlines`` is False (the
  terminal table, the gradebook files, the feedback pages).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

# a string from a task process is cut to this many characters
MAX_STRING_CHARS = 400
# C0 and C1 control characters
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# characters that reorder the text around them when displayed ("Trojan Source")
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def one_line(text: str, limit: int = MAX_STRING_CHARS) -> str:
    """``text`` without control characters or lone surrogates, on one line, at most ``limit`` characters."""
    cleaned = "".join(ch if (ch.isprintable() or ch == " ") and not is_surrogate(ch) else " "
                      for ch in text[: limit * 4])
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def escaped(value: object) -> str:
    """``value`` as text safe to print and to encode: control characters and lone surrogates escaped."""
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def visible(text: str, keep_newlines: bool = True) -> str:
    """``text`` with every control character, bidi control and lone surrogate written as an escape.

    ``\\x1b[2J``, a NUL or a right-to-left override shows up as ``\\x1b``,
    ``\\x00``, ``\\u202e`` instead of acting on the terminal, file or page.
    Newlines and tabs are kept, unless ``keep_newlines`` is False (a path or
    an id in a table row, which must stay on its row).
    """
    if text.isprintable():
        return text
    kept = "\n\t" if keep_newlines else ""
    out = []
    for char in text:
        code = ord(char)
        if char in kept or not (char in BIDI_CONTROLS or is_surrogate(char) or unicodedata.category(char) == "Cc"):
            out.append(char)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def numbered_apart(stems: Sequence[str], key: Callable[[str], str] = str) -> list[str]:
    """``stems`` made unique in order: a stem seen before (compared by ``key``) gets ``-2``, ``-3``, ... appended."""
    taken: set[str] = set()
    unique = []
    for stem in stems:
        candidate, number = stem, 1
        while key(candidate) in taken:
            number += 1
            candidate = f"{stem}-{number}"
        taken.add(key(candidate))
        unique.append(candidate)
    return unique
