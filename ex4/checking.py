"""How a self-check runs and reports: results, failures with expected/got/hint, the TODO stub."""
from __future__ import annotations

import functools
import inspect
import linecache
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType

import torch
from torch import nn

from ex4.fixtures import N_CLASSES

CHECK_SEED = 1234
# absolute/relative tolerances for comparing float32 results of the same computation
ATOL = 1e-5
RTOL = 1e-4
# a trained model's mean loss over the last iterations must be below this
# share of its mean loss over the first iterations
LOSS_DROP_FACTOR = 0.9
# name of the single result reported for a task that is still a TODO stub
STUB_RESULT_NAME = "implemented"
NOT_IMPLEMENTED = "not implemented yet"
WELL_DONE = "Well done! (The grader runs more checks than these.)"
# a failed gate check skips the checks after it, which build on what it checks
GATE = True
INDEPENDENT = False
SKIPPED = "skipped: make the check above pass first"
# a check that cannot judge because of a failure reported by another check
SKIPPED_PREFIX = "skipped:"
# longest error message quoted in a verdict
_MAX_ERROR_CHARS = 300
# the message of the stub's `raise NotImplementedError(...)` (see release.py)
_STUB_MESSAGE = re.compile(r"write your code here|\bTODO\b", re.IGNORECASE)
_GENERIC_ERROR_HINT = "call your code on a small example in a new cell to see the full traceback"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``message`` says what passed, or expected/got/hint."""

    name: str
    passed: bool
    message: str


class CheckFailed(Exception):
    """Raised inside a check to report a failed property with expected/got/hint."""

    def __init__(self, expected: str, got: str, hint: str):
        super().__init__(got)
        self.expected = expected
        self.got = got
        self.hint = hint


class Skipped(Exception):
    """Raised by a check that cannot judge: another check reports what is wrong."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotStarted(Exception):
    """Raised by a check when the task's results are still the TODO stub's values."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def require(condition: bool, expected: str, got: str, hint: str) -> None:
    if not condition:
        raise CheckFailed(expected, got, hint)


def _failure_message(expected: str, got: str, hint: str) -> str:
    return f"expected: {expected}\ngot:      {got}\nhint:     {hint}"


def _code_of(function: object) -> CodeType | None:
    try:
        function = inspect.unwrap(function)
    except ValueError:
        return None
    code = getattr(function, "__code__", None)
    return code if isinstance(code, CodeType) else None


def stub_owners(*objects: object) -> dict[CodeType, str]:
    """The code objects of the functions (or a class's methods) whose TODO stub may raise.

    Only code of the student's own functions counts: a NotImplementedError
    raised inside PyTorch (e.g. for integer logits) is a bug, not a stub.
    """
    owners: dict[CodeType, str] = {}
    for obj in objects:
        if isinstance(obj, type):
            for klass in obj.__mro__:
                if klass is object or klass.__module__.split(".")[0] == "torch":
                    continue
                for name, value in vars(klass).items():
                    code = _code_of(value.__func__ if isinstance(value, (staticmethod, classmethod)) else value)
                    if code is not None:
                        owners[code] = f"{obj.__name__}.{name}"
        elif callable(obj):
            code = _code_of(obj)
            if code is not None:
                owners[code] = getattr(obj, "__qualname__", getattr(obj, "__name__", "your function"))
    return owners


def _innermost_frame(error: BaseException):
    traceback = error.__traceback__
    if traceback is None:
        return None
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback


def stub_owner(error: BaseException, owners: dict[CodeType, str]) -> str | None:
    """The function whose untouched TODO stub raised ``error``, else None.

    The error must be a NotImplementedError raised directly by one of
    ``owners``, by a ``raise NotImplementedError`` line (read from the source
    when it is available, as in a notebook) or with the stub's message.
    """
    if not isinstance(error, NotImplementedError):
        return None
    innermost = _innermost_frame(error)
    if innermost is None or innermost.tb_frame.f_code not in owners:
        return None
    code = innermost.tb_frame.f_code
    line = linecache.getline(code.co_filename, innermost.tb_lineno).strip()
    if line:
        is_stub = line.startswith("raise NotImplementedError")
    else:
        is_stub = not str(error) or bool(_STUB_MESSAGE.search(str(error)))
    return owners[code] if is_stub else None


def _raised_in(error: BaseException, owners: dict[CodeType, str]) -> str | None:
    """The innermost of ``owners`` on the traceback of ``error``."""
    traceback, found = error.__traceback__, None
    while traceback is not None:
        found = owners.get(traceback.tb_frame.f_code, found)
        traceback = traceback.tb_next
    return found


def _stub_result(detail: str) -> CheckResult:
    # the verdict starts with "Task <task> self-check:", so the message does not name the task again
    return CheckResult(STUB_RESULT_NAME, False,
                       f"this task is {NOT_IMPLEMENTED}: {detail}. Replace the TODO stub with your "
                       "code, run its cell, then run this check again.")


def error_text(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + " ..."
    return f"{type(error).__name__}: {text}"


def _known_error_hint(error: BaseException) -> str | None:
    """Hints for errors that name their cause whatever the task."""
    text = str(error)
    if isinstance(error, NotImplementedError) and "for 'Long'" in text:
        return ("an integer tensor reached a function that needs floating-point values: are the "
                "labels passed where the model's outputs belong, e.g. loss_fn(labels, predictions) "
                "instead of loss_fn(predictions, labels)?")
    if "object has no attribute 'backward'" in text:
        return ("backward() is a method of the loss tensor: call loss.backward() on the tensor that "
                "loss_fn returns, and .item() only for the number you append to losses")
    if "does not require grad" in text:
        return ("the loss has no gradient: compute the predictions without torch.no_grad() and "
                "without .detach(), and call backward() on the loss tensor itself")
    if 'missing the required "forward" function' in text:
        return ("a module without forward() was called: spell the method `def forward(self, x)` in your "
                "class, and call the layers of an nn.ModuleList one by one (a ModuleList has no forward)")
    if "before Module.__init__() call" in text:
        return "call super().__init__() first in your __init__, before assigning layers to self"
    if "expected target dtype" in text or ("target" in text and "Float" in text and "Long" in text):
        return ("pass the labels to loss_fn as they come from the data loader (int64 class indices), "
                "not converted with .float()")
    return None


def run_checks(task: str,
                checks: Sequence[tuple[str, Callable[[], str], bool]],
                owners: dict[CodeType, str] | None = None,
                explain: Callable[[str, BaseException], str | None] | None = None) -> list[CheckResult]:
    """Run ``(name, check, is_gate)`` triples in order; a check returns its success message.

    The task is reported as not implemented only when a check raises
    ``NotStarted`` or the NotImplementedError of a TODO stub in ``owners``.
    A check that fails (or raises) is reported, with ``explain(name, error)``
    as the hint for an error where it knows the cause; when it is a gate,
    the later checks need what it checks and are reported as skipped.
    """
    owners = owners or {}
    results = []
    for index, (name, check, is_gate) in enumerate(checks):
        try:
            results.append(CheckResult(name, True, check()))
            continue
        except NotStarted as stub:
            return [_stub_result(stub.detail)]
        except Skipped as skipped:
            results.append(CheckResult(name, False, f"{SKIPPED_PREFIX} {skipped.reason}"))
            continue
        except CheckFailed as failure:
            results.append(CheckResult(
                name, False, _failure_message(failure.expected, failure.got, failure.hint)))
        except Exception as error:  # noqa: BLE001 - a student's bug must not stop the notebook
            owner = stub_owner(error, owners)
            if owner is not None:
                return [_stub_result(f"{owner} still raises the NotImplementedError of the "
                                           "TODO stub")]
            where = _raised_in(error, owners)
            hint = ((explain(name, error) if explain else None) or _known_error_hint(error)
                    or _GENERIC_ERROR_HINT)
            results.append(CheckResult(name, False, _failure_message(
                "the code to run without an error",
                error_text(error) + (f" (raised in {where})" if where else ""), hint)))
        if is_gate:
            results.extend(CheckResult(later, False, SKIPPED)
                           for later, _, _ in checks[index + 1:])
            break
    return results


def format_report(task: str, results: Sequence[CheckResult]) -> str:
    """The verdict printed in the notebook."""
    if len(results) == 1 and results[0].name == STUB_RESULT_NAME:
        return f"Task {task} self-check: {results[0].message}"
    n_passed = sum(result.passed for result in results)
    lines = [f"Task {task} self-check: {n_passed} of {len(results)} checks passed."]
    for result in results:
        if result.passed or result.message.startswith(SKIPPED_PREFIX):
            mark = "✓" if result.passed else "-"
            lines.append(f"  {mark} {result.name}: {result.message}")
            continue
        lines.append(f"  ✗ {result.name}:")
        lines.extend("      " + line for line in result.message.splitlines())
    if n_passed == len(results):
        lines.append(WELL_DONE)
    return "\n".join(line.rstrip() for line in lines)


def seeded(results_fn: Callable[..., list[CheckResult]]) -> Callable[..., list[CheckResult]]:
    """Run ``results_fn`` with its own seed on one CPU thread, leaving PyTorch's global state as it was.

    The checks compute on tiny tensors, for which several threads only add
    waiting (up to a second per check on a busy machine).
    """

    @functools.wraps(results_fn)
    def run(*args: object) -> list[CheckResult]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(CHECK_SEED)
                return results_fn(*args)
        finally:
            torch.set_num_threads(threads)

    return run


def report(task: str, results_fn: Callable[[], list[CheckResult]]) -> None:
    try:
        results = results_fn()
    except Exception as error:  # noqa: BLE001 - the self-check must never stop the notebook
        print(f"Task {task} self-check could not run: {type(error).__name__}: {error}")
        return
    print(format_report(task, results))


def describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if value is None:
        return "None"
    if isinstance(value, type):
        return f"the class {value.__name__} itself"
    return f"a {type(value).__name__}"


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    return next((parameter.device for parameter in model.parameters()), torch.device("cpu"))




def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same_value(got: object, expected: float) -> bool:
    """``got`` equals ``expected``; a NaN expected also matches NaN or 0 (undefined, shown either way)."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not is_number(got):
        return False
    if math.isnan(expected):
        return math.isnan(got) or got == 0
    return not math.isnan(got) and math.isclose(got, expected, rel_tol=RTOL, abs_tol=ATOL)


def shape_error_hint(error: BaseException) -> str | None:
    """The hint for an argmax over the wrong dimension or an unpacked torch.max."""
    text = str(error)
    if f"({N_CLASSES}) must match the size" in text or f"must match the size of tensor b ({N_CLASSES})" in text:
        return ("the predictions have one entry per class instead of one per sample: take the "
                "argmax over the classes of each sample, dim=1, not over the batch, dim=0")
    if "return_types" in text or "'bool' object has no attribute" in text:
        return ("the comparison with the labels gave a single bool, not a tensor: torch.max(outputs, dim=1) "
                "returns (values, indices), and the predicted classes are the indices")
    return None
