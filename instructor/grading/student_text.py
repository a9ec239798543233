"""What a verdict may copy from a submission's probe result into a message: bounded words, never free text.

Everything in a task process's result is the submission's to choose (its
code runs in that process), so a string in it may carry anything, e.g.
text its code found in memory. A verdict therefore names a type only from
a fixed vocabulary and an exception only as a built-in exception's name, a
few well-known messages whose names are identifiers, and where it was raised
(cell and line numbers). The exception's own text and the quoted source line
never reach a message. Runs in the grader's process; no torch.
"""
from __future__ import annotations

import builtins
import re

# the type names the probes report for built-in, NumPy and torch values (probes.type_name)
TYPE_WORDS = frozenset({"float", "int", "bool", "str", "dict", "list", "tuple", "None", "numpy.float64",
                        "numpy.float32", "numpy.int64", "torch.Tensor"})
OTHER_TYPE = "an object of another type"
EXCEPTION_NAMES = frozenset(name for name, value in vars(builtins).items()
                            if isinstance(value, type) and issubclass(value, BaseException))
OTHER_EXCEPTION = "an exception of its own class"
# an identifier a message may name (a module, variable or attribute), at most this long
_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,29}(?:\.[A-Za-z_][A-Za-z0-9_]{0,29}){0,3}"
# exception texts that help a student and hold nothing but identifiers
KNOWN_MESSAGES = tuple(re.compile(pattern) for pattern in (
    rf"No module named '{_NAME}'",
    rf"name '{_NAME}' is not defined",
    rf"'{_NAME}' object has no attribute '{_NAME}'",
    rf"'{_NAME}' object is not callable",
    rf"'{_NAME}' object is not subscriptable",
    rf"'{_NAME}' object is not iterable",
    r"division by zero",
    r"float division by zero",
))
# describe_exception's text: "Name: message (cell 16, line 9: `code`)"; the location may be left out
_EXCEPTION = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]{0,49})(?::\s?(?P<message>.*?))?"
                        r"(?:\s\((?P<where>(?:cell \d{1,6}, )?line \d{1,7})(?::.*)?\))?$")


def type_word(name: object) -> str:
    """``name`` when it is one of the probes' names for built-in, NumPy and torch types, else a fixed phrase."""
    return name if isinstance(name, str) and name in TYPE_WORDS else OTHER_TYPE


def value_of_type(name: object) -> str:
    """'a value of type int' for a name of the vocabulary, else a fixed phrase."""
    word = type_word(name)
    return f"a value of type {word}" if word != OTHER_TYPE else word


def exception_words(text: object) -> str:
    """A probe's description of an exception, reduced to words that cannot carry free text.

    ``"NameError: name 'x' is not defined (cell 16, line 9: `return x`)"``
    stays ``"NameError: name 'x' is not defined (cell 16, line 9)"``; the
    text of other messages and the source line are left out, and an
    exception class that is not built in is named as such.
    """
    match = _EXCEPTION.match(text) if isinstance(text, str) else None
    if match is None:
        return OTHER_EXCEPTION
    name = match["name"] if match["name"] in EXCEPTION_NAMES else OTHER_EXCEPTION
    message = match["message"] or ""
    words = f"{name}: {message}" if any(p.fullmatch(message) for p in KNOWN_MESSAGES) else name
    return f"{words} ({match['where']})" if match["where"] else words
