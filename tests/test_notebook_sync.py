"""The notebook's graded code and solution.py cannot drift apart."""
from __future__ import annotations

import ast
import copy
from pathlib import Path

import nbformat
import pytest
from helpers_notebook_sync import GRADED_DEFINITIONS, code_cells, sync_differences
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_PATH = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
SOLUTION_PATH = PROJECT_ROOT / "solution.py"
TASK_2B_LEARNING_RATE = "lr=0.04"


@pytest.fixture(scope="module")
def notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_PATH, as_version=4)


@pytest.fixture(scope="module")
def solution_source() -> str:
    return SOLUTION_PATH.read_text()


def notebook_of(*sources: str) -> nbformat.NotebookNode:
    """A notebook with a markdown cell and then one code cell per source."""
    return new_notebook(cells=[new_markdown_cell("# Test notebook")]
                        + [new_code_cell(source) for source in sources])


def replaced_in_cells(notebook: nbformat.NotebookNode, old: str, new: str) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with ``old`` replaced once in the one code cell that contains it."""
    changed = copy.deepcopy(notebook)
    cells = [cell for cell in changed.cells if cell.cell_type == "code" and old in cell.source]
    assert len(cells) == 1, f"expected exactly one code cell containing {old!r}"
    assert cells[0].source.count(old) == 1, f"expected {old!r} once in its cell"
    cells[0].source = cells[0].source.replace(old, new)
    return changed


def test_notebook_graded_code_matches_solution_py(notebook, solution_source):
    differences = sync_differences(notebook, solution_source)
    assert differences == [], (
        "the notebook and solution.py differ; regenerate the notebook from solution.py:\n"
        + "\n".join(differences))


def test_notebook_does_not_import_the_solution_module(notebook):
    for where, source in code_cells(notebook):
        for node in ast.walk(ast.parse(source)):
            imported = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                        else [node.module] if isinstance(node, ast.ImportFrom) else [])
            assert "solution" not in imported, f"{where} imports solution.py"


def test_a_changed_learning_rate_in_the_notebook_is_reported(notebook, solution_source):
    changed = replaced_in_cells(notebook, TASK_2B_LEARNING_RATE, "lr=0.4")
    new_differences = (set(sync_differences(changed, solution_source))
                       - set(sync_differences(notebook, solution_source)))
    assert any("task 2b" in difference for difference in new_differences), new_differences


# The same comparison on a notebook made of solution.py itself, so that it is shown to
# find nothing where nothing differs and to find each kind of change.

def test_a_notebook_holding_solution_py_has_no_differences(solution_source):
    assert sync_differences(notebook_of(solution_source), solution_source) == []


def test_docstrings_and_comments_do_not_count_as_differences(solution_source):
    edited = (solution_source
              .replace('"""Train ``model``', '"""Fit ``model``')
              .replace("            ### BEGIN SOLUTION 2a\n",
                       "            ### BEGIN SOLUTION 2a\n            # a comment\n"))
    assert edited != solution_source
    assert sync_differences(notebook_of(edited), solution_source) == []


@pytest.mark.parametrize("old, new, expected", [
    pytest.param(TASK_2B_LEARNING_RATE, "lr=0.4", "solution region 5 (task 2b)", id="region 2b"),
    pytest.param("argmax(dim=1)\n            n_correctly", "argmax(dim=0)\n            n_correctly",
                 "solution region 6 (task 3a)", id="region 3a"),
    pytest.param("    model.train(was_training)\n    if n_samples == 0",
                 "    model.train(True)\n    if n_samples == 0",
                 "compute_accuracy: the notebook's definition differs", id="outside regions"),
    pytest.param("out_features=10", "out_features=12",
                 "SimpleFixedMLP: the notebook's definition differs", id="fixed model"),
    pytest.param("def train(", "def fit(", "train: not defined at the top level of the notebook",
                 id="missing definition"),
    pytest.param("    ### END SOLUTION 3b\n", "", "BEGIN SOLUTION 3b is never closed",
                 id="unclosed region"),
    pytest.param("    ### BEGIN SOLUTION 2b\n", "", "END SOLUTION 2b without a BEGIN",
                 id="unopened region"),
    pytest.param("            ### BEGIN SOLUTION 2a\n", "            ### BEGIN SOLUTION 2b\n",
                 "does not match BEGIN SOLUTION 2b", id="renamed region"),
])
def test_each_kind_of_change_is_reported(solution_source, old, new, expected):
    assert solution_source.count(old) == 1, f"{old!r} must occur once in solution.py"
    changed = notebook_of(solution_source.replace(old, new))
    differences = sync_differences(changed, solution_source)
    assert any(expected in difference for difference in differences), differences


def test_a_region_split_across_two_cells_is_reported(solution_source):
    end_marker = "    ### END SOLUTION 1b\n"
    first, second = solution_source.split(end_marker)
    differences = sync_differences(notebook_of(first, end_marker + second), solution_source)
    assert any("never closed" in difference for difference in differences), differences


def test_a_definition_given_twice_is_reported(solution_source):
    differences = sync_differences(notebook_of(solution_source, "def train():\n    pass\n"),
                                   solution_source)
    assert any("defines train a second time" in difference for difference in differences)


def test_every_graded_definition_is_compared(solution_source):
    for name in GRADED_DEFINITIONS:
        header = f"class {name}(" if name[0].isupper() else f"def {name}("
        renamed = solution_source.replace(header, header.replace(name, name + "_renamed"), 1)
        assert renamed != solution_source
        differences = sync_differences(notebook_of(renamed), solution_source)
        assert f"{name}: not defined at the top level of the notebook" in differences
