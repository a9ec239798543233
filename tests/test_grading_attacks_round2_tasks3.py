"""Round two against Tasks 3a and 3b: answers from a table, and the reference's sources read out of memory.

* Answers from a table: a submission that never calls the model and returns,
  by ``len(dataloader.dataset)``, the right values of another run (learned
  from that run's feedback) must get 0 for 3a and 3b, beside honest copies
  with full points. Every run draws its cases from its seed, so another
  run's values are wrong, and values that ignore the predictions are no work.
* Sources out of memory: top-level code that walks the frames and
  ``gc.get_objects()`` for the reference's sources, disguises spaces, dots
  and newlines as look-alike characters and returns them in the strings its
  3a/3b results hold (a class name, an exception's text) must not get a
  single line of the reference's answers into the gradebook (JSON, CSV) or
  the feedback pages, look-alike characters normalised.

The graded runs are slow (one grade.py run of four notebooks); the unit tests
beside them (what a job carries, when its sources are dropped, what a verdict
copies from a forged result) are fast.
"""
from __future__ import annotations

import html
import json
import textwrap
import unicodedata
from pathlib import Path

import nbformat
import pytest
from notebook_edits import with_region

from instructor import grade
from instructor.grading import core
from instructor.grading.extraction import reference_code
from instructor.grading.task_namespace import build_namespace
from instructor.shipped import PROJECT_ROOT
from instructor.solution_regions import find_regions
from instructor.tasks import POINTS, TASKS

NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
SOLUTION = PROJECT_ROOT / "solution.py"
# the table attack learns its values from a run with LEARN_SEED and is graded in a run with GRADE_SEED
LEARN_SEED, GRADE_SEED = 11, 12
TASK_TIMEOUT_S = 10
JOBS = 2
# reference lines at least this long (whitespace removed) must not be found in any output
MIN_LINE_CHARS = 15
# look-alike characters the attack uses, with what they stand for (NFKC maps ONE DOT LEADER itself)
LOOK_ALIKES = {"\u2800": " ", "\u3164": " ", "\u2024": ".", "\u2424": "\n", "\u21b5": "\n"}
HONEST = ("honest_1", "honest_2")

TABLE_3A = """
import json
return json.loads(__TABLE__).get(str(len(dataloader.dataset)), 0.0)
"""
TABLE_3B = """
import json
found = json.loads(__TABLE__).get(str(len(dataloader.dataset)), {})
return {int(key): float(value) for key, value in found.items()}
"""
# top-level code: the reference's sources from the stack and the garbage collector's lists, disguised
STEAL_SOURCES = r'''
import gc
import sys


def _ex4_region_lines(text):
    lines, inside = [], False
    for line in text.split("\n"):
        if "### END SOLUTION" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
        if "### BEGIN SOLUTION" in line:
            inside = True
    return lines


def _ex4_sources():
    # strings held directly in lists (a job's reference sources); the job's own statements are dicts
    found, seen, pending = [], set(), []
    frame = sys._getframe()
    while frame is not None:
        pending.extend(frame.f_locals.values())
        frame = frame.f_back
    pending.extend(o for o in gc.get_objects() if isinstance(o, list))
    visits = 0
    while pending and visits < 300000:
        value = pending.pop()
        visits += 1
        if isinstance(value, (dict, list, tuple)) and id(value) not in seen:
            seen.add(id(value))
            items = list(value.values()) if isinstance(value, dict) else list(value)
            found += [s for s in items if isinstance(s, str) and "### BEGIN SOLUTION" in s and "_ex4" not in s]
            pending.extend(i for i in items if isinstance(i, (dict, list, tuple)))
    return found


def _ex4_loot():
    lines = []
    for source in _ex4_sources():
        lines += [line for line in _ex4_region_lines(source) if line not in lines]
    return "\u2424".join(line.replace(" ", "\u2800").replace(".", "\u2024") for line in lines)


# one statement: a top-level loop would not run beside the task
_EX4_LOOT = _ex4_loot()
'''
LEAK_3A = """
return type(_EX4_LOOT[:380] or "nothing", (), {})()
"""
LEAK_3B = """
raise ValueError(_EX4_LOOT[380:760] or "nothing")
"""


def source_with(template: str, **values: object) -> str:
    text = textwrap.dedent(template).strip("\n")
    for name, value in values.items():
        text = text.replace(f"__{name.upper()}__", repr(value))
    return text


def learned_tables() -> dict[str, dict[str, object]]:
    """len(dataset) -> the reference's value, per task, from the probes' loaders of a run with LEARN_SEED."""
    import solution
    from instructor.grading import probes
    from instructor.tasks import probe_3a, probe_3b

    tables: dict[str, dict[str, object]] = {"3a": {}, "3b": {}}

    def recording(task, function):
        def record(model, dataloader):
            value = function(model, dataloader)
            tables[task].setdefault(str(len(dataloader.dataset)), value)
            return value
        return record

    saved = probes._run_seed
    probes._run_seed = LEARN_SEED
    try:
        probe_3a.probe({"compute_accuracy": recording("3a", solution.compute_accuracy)}, {}, {})
        probe_3b.probe({"compute_accuracy_per_class": recording("3b", solution.compute_accuracy_per_class)}, {}, {})
    finally:
        probes._run_seed = saved
    return tables


def stub_other_regions(notebook: nbformat.NotebookNode) -> None:
    """The attacker's own notebook holds no line of the reference's answers: what it shows came from the grader."""
    for task, occurrence in (("1a", 0), ("1a", 1), ("1b", 0), ("2a", 0), ("2b", 0)):
        with_region(notebook, task, 'raise NotImplementedError("TODO")', occurrence)


def insert_after_first_code_cell(notebook: nbformat.NotebookNode, source: str) -> None:
    index = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))


def build_submissions(folder: Path) -> None:
    for name in HONEST:
        nbformat.write(nbformat.read(NOTEBOOK, as_version=4), folder / f"{name}.ipynb")
    tables = learned_tables()
    table = nbformat.read(NOTEBOOK, as_version=4)
    with_region(table, "3a", source_with(TABLE_3A, table=json.dumps(tables["3a"])))
    with_region(table, "3b", source_with(TABLE_3B, table=json.dumps(tables["3b"])))
    nbformat.write(table, folder / "table.ipynb")
    leak = nbformat.read(NOTEBOOK, as_version=4)
    stub_other_regions(leak)
    insert_after_first_code_cell(leak, STEAL_SOURCES)
    with_region(leak, "3a", LEAK_3A)
    with_region(leak, "3b", LEAK_3B)
    nbformat.write(leak, folder / "leak.ipynb")


def squeezed(text: str) -> str:
    """``text`` with look-alike characters replaced by what they stand for, NFKC-normalised, no whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(LOOK_ALIKES.get(ch, ch) for ch in text)
    return "".join(text.split())


def reference_lines() -> list[str]:
    bodies = [region.body for region in find_regions(SOLUTION.read_text(encoding="utf-8"), str(SOLUTION))]
    lines = {squeezed(line) for body in bodies for line in body.splitlines()}
    return sorted(line for line in lines if len(line) >= MIN_LINE_CHARS)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("round2_tasks3")
    submissions = folder / "submissions"
    submissions.mkdir()
    build_submissions(submissions)
    outputs = {"json": folder / "grades.json", "csv": folder / "grades.csv", "feedback": folder / "feedback"}
    status = grade.main(["--quiet", "--seed", str(GRADE_SEED), "--jobs", str(JOBS), "--task-timeout",
                         str(TASK_TIMEOUT_S), "--json", str(outputs["json"]), "--csv", str(outputs["csv"]),
                         "--feedback", str(outputs["feedback"]), str(submissions)])
    gradebook = json.loads(outputs["json"].read_text(encoding="utf-8"))
    texts = [json.dumps(gradebook, ensure_ascii=False), outputs["csv"].read_text(encoding="utf-8")]
    texts += [html.unescape(page.read_text(encoding="utf-8")) for page in sorted(outputs["feedback"].rglob("*"))
              if page.is_file()]
    points = {entry["id"]: {task: result["points"] for task, result in entry["tasks"].items()}
              for entry in gradebook["submissions"]}
    return {"status": status, "points": points, "gradebook": gradebook, "texts": texts}


@pytest.mark.slow
def test_the_run_finishes_and_honest_copies_keep_full_points(graded):
    assert graded["status"] == 0
    for name in HONEST:
        assert graded["points"][name] == POINTS, name


@pytest.mark.slow
def test_values_tabulated_by_the_loaders_size_get_nothing(graded):
    assert {task: graded["points"]["table"][task] for task in ("3a", "3b")} == {"3a": 0, "3b": 0}
    assert {task: graded["points"]["table"][task] for task in TASKS if task not in ("3a", "3b")} == \
        {task: POINTS[task] for task in TASKS if task not in ("3a", "3b")}


@pytest.mark.slow
def test_no_reference_line_reaches_any_output_even_disguised(graded):
    outputs = squeezed("\n".join(graded["texts"]))
    leaked = [line for line in reference_lines() if line in outputs]
    assert not leaked, f"{len(leaked)} reference lines in the outputs, e.g. {leaked[:3]}"
    assert graded["points"]["leak"]["3a"] == 0 and graded["points"]["leak"]["3b"] == 0


# --------------------------------------------------------------------- fast: jobs, namespaces, verdicts


def region_lines_of(task_ids: tuple[str, ...]) -> set[str]:
    """The stripped lines of these tasks' answers in solution.py that the given code (outside regions) lacks."""
    source = SOLUTION.read_text(encoding="utf-8")
    regions = find_regions(source, str(SOLUTION))
    inside = {n for r in regions for n in range(r.begin_line, r.end_line + 1)}
    given = {line.strip() for n, line in enumerate(source.splitlines()) if n not in inside}
    return {line.strip() for r in regions if r.task in task_ids for line in r.body.splitlines()
            if len(line.strip()) >= MIN_LINE_CHARS and line.strip() not in given}


@pytest.mark.parametrize("task, carried", [("1a", ()), ("1b", ("1a",)), ("2a", ()), ("2b", ("1a", "2a")),
                                           ("3a", ()), ("3b", ())])
def test_a_job_carries_only_the_answers_its_task_needs(task, carried):
    from instructor.grading.extraction import extract

    job = core.task_job(task, extract(SOLUTION).tasks[task], reference_code(SOLUTION), seed=1)
    text = "\n".join(job["reference"])
    present = {other for other in TASKS if region_lines_of((other,)) & set(map(str.strip, text.splitlines()))}
    assert present == set(carried)


def test_reference_sources_are_gone_before_the_first_student_statement():
    # the marker is in a comment: only the source's text holds it, no object the source makes (nor this file)
    secret = "ANSWER = 'cba'[::-1]  # marker" + "-qz"
    probe = textwrap.dedent("""
        import gc, sys
        marker = "marker" + "-qz"
        frame, found = sys._getframe().f_back, False
        while frame is not None and frame.f_globals.get("__name__") != __TEST_MODULE__:
            found = found or any(marker in repr(v) for v in frame.f_locals.values() if v is not globals())
            frame = frame.f_back
        found = found or any(marker in s for o in gc.get_objects() if isinstance(o, list) for s in o
                             if isinstance(s, str))
        """).replace("__TEST_MODULE__", repr(__name__))
    job = {"reference": [secret], "context": [{"source": probe, "where": "cell 2", "line": 1, "graded": True}]}
    namespace = build_namespace(job, {})
    assert namespace["ANSWER"] == "abc"
    assert namespace["found"] is False
    assert "reference" not in job


FREE_TEXT = "self\u2024layers\u2800=\u2800nn\u2024ModuleList"


def forged_3a(reference: dict) -> dict:
    forged = {name: {"type": f"{FREE_TEXT} (not a built-in type)", "value": None}
              for name in ("single_batch", "repeated", "all_right")}
    forged["several_batches"] = {"error": f"ValueError: {FREE_TEXT} (cell 3, line 2: `{FREE_TEXT}`)"}
    return forged


def forged_3b() -> dict:
    entries = [{"key_type": f"{FREE_TEXT} (not a built-in type)", "key": None, "value_type": FREE_TEXT,
                "value": None}]
    return {"all_classes": {"entries": entries}, "repeated": {"entries": entries},
            "all_right": {"returned_type": FREE_TEXT}, "absent_classes": {"error": f"{FREE_TEXT}: {FREE_TEXT}"}}


def reference_results() -> dict[str, dict]:
    import solution
    from instructor.tasks import probe_3a, probe_3b

    return {"3a": probe_3a.probe({"compute_accuracy": solution.compute_accuracy}, {}, {}),
            "3b": probe_3b.probe({"compute_accuracy_per_class": solution.compute_accuracy_per_class}, {}, {})}


def test_a_verdict_copies_no_free_text_from_a_forged_result():
    from instructor.tasks import task_3a, task_3b

    references = reference_results()
    grades = {"3a": task_3a.verdict(forged_3a(references["3a"]), references["3a"]),
              "3b": task_3b.verdict(forged_3b(), references["3b"])}
    for task, task_grade in grades.items():
        text = " ".join(task_grade.messages)
        assert task_grade.points == 0 and task_grade.messages, task
        assert "ModuleList" not in squeezed(text) and "layers" not in text, f"{task}: {text}"


def test_messages_never_state_the_expected_accuracy():
    from instructor.tasks import task_3a

    reference = reference_results()["3a"]
    for scale in (100, 0.5):
        student = {name: {"type": "float", "value": result["value"] * scale}
                   for name, result in reference.items() if name != "cases"}
        messages = " ".join(task_3a.verdict(student, reference).messages)
        for name in ("single_batch", "several_batches"):
            expected = reference[name]["value"]
            assert not any(f"{expected:{spec}}" in messages for spec in ("", ".2f", ".3f", ".4g", ".6g")), messages
        assert ("a percentage instead of a fraction" in messages) == (scale == 100)
