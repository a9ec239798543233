"""The task process's namespace: reference, provided data, guarded context statements, messages."""
from __future__ import annotations

import ast
import builtins
import linecache
import re
import sys
import traceback
from pathlib import Path

import pytest

from instructor.grading import task_namespace
from instructor.grading.task_namespace import build_namespace, describe_exception, run_statements


def statement(source: str, where: str = "cell 2", line: int = 1, graded: bool = False) -> dict:
    return {"source": source, "where": where, "line": line, "graded": graded}


def job(*context: dict, reference: tuple[str, ...] = ()) -> dict:
    return {"task": "3a", "kind": "definition", "reference": list(reference), "context": list(context),
            "task_code": []}


def test_the_namespace_is_a_fresh_main_module_with_the_reference_then_the_provided_names():
    namespace = build_namespace(job(statement("seen = (given, loader)"), reference=("given = 1\nloader = 'ref'",)),
                                {"loader": "synthetic"})
    assert namespace["__name__"] == "__main__"
    assert namespace["__builtins__"] is builtins
    # the grader's data replaces the reference's, and the context sees both
    assert namespace["seen"] == (1, "synthetic")


def test_a_failing_context_statement_costs_only_the_names_it_would_have_defined():
    namespace = build_namespace(job(
        statement("import torch_does_not_exist_here"),
        statement("import sys\nsys.exit('stop')", line=2),
        statement("broken = undefined_name + 1", line=4),
        statement("helper_value = 41 + 1", line=5),
        statement("def helper():\n    return helper_value", line=6),
    ), {})
    assert "torch_does_not_exist_here" not in namespace and "broken" not in namespace
    assert namespace["sys"] is sys  # the statement's first line ran before its SystemExit
    assert namespace["helper"]() == 42


def test_a_graded_statement_that_fails_raises():
    with pytest.raises(ZeroDivisionError):
        build_namespace(job(statement("x = 1"), statement("class SimpleMLP:\n    size = 1 / 0", graded=True)), {})
    with pytest.raises(SystemExit):
        build_namespace(job(statement("import sys\nsys.exit('bye')", graded=True)), {})


def test_the_last_definition_wins():
    namespace = build_namespace(job(
        statement("def train(model):\n    return 'first attempt'", where="cell 3"),
        statement("def train(model):\n    return 'second attempt'", where="cell 9", graded=True),
    ), {})
    assert namespace["train"](None) == "second attempt"


def test_run_statements_propagates_graded_errors_and_skips_ungraded_ones():
    namespace = build_namespace(job(), {})
    run_statements([statement("a = 1", graded=True), statement("b = missing", graded=False),
                    statement("c = a + 1", graded=True)], namespace)
    assert namespace["c"] == 2 and "b" not in namespace
    with pytest.raises(NameError):
        run_statements([statement("d = missing", graded=True)], namespace)
    with pytest.raises(NameError):  # task code is graded unless marked otherwise
        run_statements([{"source": "e = missing", "where": "cell 4", "line": 1}], namespace)


def test_a_traceback_names_the_students_cell_and_line_and_shows_the_source():
    namespace = build_namespace(job(
        statement("def add_one():\n    value = 1\n    return x + 1", where="cell 16", line=7, graded=True)), {})
    with pytest.raises(NameError) as info:
        namespace["add_one"]()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (frame.filename, frame.lineno, frame.line) == ("<submission cell 16>", 9, "return x + 1")
    assert linecache.getline("<submission cell 16>", 7) == "def add_one():\n"
    assert "    return x + 1" in "".join(traceback.format_exception(info.value))


def test_statements_of_one_cell_share_its_lines_in_linecache():
    build_namespace(job(statement("first = 1", where="cell 30", line=2),
                        statement("second = 2", where="cell 30", line=5)), {})
    assert linecache.getline("<submission cell 30>", 2) == "first = 1\n"
    assert linecache.getline("<submission cell 30>", 5) == "second = 2\n"


def test_describe_exception_names_the_innermost_submission_line_once():
    namespace = build_namespace(job(
        statement("def inner():\n    return x + 1", where="cell 16", line=8),
        statement("def outer():\n    return inner()", where="cell 20", line=1),
    ), {})
    with pytest.raises(NameError) as info:
        namespace["outer"]()
    assert describe_exception(info.value) == "NameError: name 'x' is not defined (cell 16, line 9: `return x + 1`)"


def test_describe_exception_in_a_python_file_names_the_file_line():
    namespace = build_namespace(job(statement("def f():\n    return {}['key']", where="", line=11)), {})
    with pytest.raises(KeyError) as info:
        namespace["f"]()
    assert describe_exception(info.value) == "KeyError: 'key' (line 12: `return {}['key']`)"


def test_describe_exception_without_submission_code_has_no_location():
    try:
        {}["missing"]
    except KeyError as exc:
        assert describe_exception(exc) == "KeyError: 'missing'"


def test_a_statement_that_does_not_compile_is_described_at_its_line():
    with pytest.raises(SyntaxError) as info:
        run_statements([statement("x = 1\nreturn x", where="cell 5", line=3, graded=True)], {})
    assert describe_exception(info.value) == "SyntaxError: 'return' outside function (cell 5, line 4: `return x`)"


def test_messages_are_one_short_line_without_the_graders_paths():
    message = "x" * 1000 + "\nsecond line " + str(Path(task_namespace.__file__).parent) + "/probes.py"
    with pytest.raises(ValueError) as info:
        run_statements([statement(f"raise ValueError({message!r})", where="cell 3", line=4, graded=True)], {})
    text = describe_exception(info.value)
    assert re.fullmatch(r"ValueError: x+\.\.\. \(cell 3, line 4: `raise ValueError\('x+\.\.\.`\)", text), text
    exception_text, location = text.split(" (cell 3")
    assert len(exception_text) <= task_namespace.MAX_EXCEPTION_CHARS
    assert len(location) <= task_namespace.MAX_SOURCE_CHARS + len(", line 4: ``)")
    assert str(Path(task_namespace.__file__).parent) not in describe_exception(ValueError(message))
    assert "probes.py" in describe_exception(ValueError(message[-200:]))


def test_messages_escape_terminal_control_characters_and_lone_surrogates():
    text = describe_exception(ValueError("red \x1b[31malert\x07 \ud800 end"))
    assert text == "ValueError: red \\x1b[31malert\\x07 \\ud800 end"
    text.encode("utf-8")


def test_a_future_import_applies_to_the_statements_after_it():
    namespace = build_namespace(job(
        statement("from __future__ import annotations"),
        statement("def f(x: NotDefinedAnywhere) -> AlsoMissing:\n    return x", line=2, graded=True)), {})
    assert namespace["f"](3) == 3


def test_the_module_needs_only_the_standard_library():
    tree = ast.parse(Path(task_namespace.__file__).read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= set(sys.stdlib_module_names)


def test_display_is_there_as_in_jupyter_and_shows_nothing():
    namespace = build_namespace({"context": [{"source": "shown = display('x')", "where": "cell 3", "line": 1,
                                              "graded": True}]}, {})
    assert namespace["shown"] is None
