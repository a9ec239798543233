"""solution_regions.find_regions: regions found, malformed markers reported with line numbers."""
from __future__ import annotations

from pathlib import Path

import pytest

from instructor.solution_regions import MalformedRegionError, Region, find_regions
from instructor.tasks import POINTS, TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOTAL_POINTS = 100

TWO_REGIONS = """\
def f(x):
    y = 1
    ### BEGIN SOLUTION 2a
    y = x + 1  # the answer
    ### END SOLUTION 2a
    return y

### BEGIN SOLUTION 3b
z = f(2)
### END SOLUTION 3b
"""


def test_find_regions_reports_task_position_indent_and_body():
    regions = find_regions(TWO_REGIONS)
    assert regions == [
        Region("2a", "    ", 2, 4, "    y = x + 1  # the answer"),
        Region("3b", "", 7, 9, "z = f(2)"),
    ]


def test_source_without_markers_has_no_regions():
    assert find_regions("x = 1\n# BEGIN SOLUTION 1a is not a marker\n") == []


def test_normalized_ignores_comments_indentation_and_formatting():
    indented = Region("2a", "    ", 0, 3, "    y = x+1  # note\n    z = ( y )")
    flat = Region("2a", "", 0, 3, "y = x + 1\nz = y")
    assert indented.normalized() == flat.normalized()


def test_normalized_sees_changed_code():
    assert (Region("2b", "", 0, 2, "lr = 0.04").normalized()
            != Region("2b", "", 0, 2, "lr = 0.4").normalized())


def test_points_cover_every_task_and_sum_to_100():
    assert list(POINTS) == list(TASKS)
    assert sum(POINTS.values()) == TOTAL_POINTS


def test_solution_py_has_a_region_for_every_task_in_order():
    source = (PROJECT_ROOT / "solution.py").read_text()
    tasks = [region.task for region in find_regions(source, where="solution.py")]
    assert tasks == sorted(tasks)
    assert set(tasks) == set(TASKS)


@pytest.mark.parametrize("source, line, message", [
    pytest.param("x = 1\n### BEGIN SOLUTION 1a\ny = 2\n", 2, "never closed", id="unclosed"),
    pytest.param("x = 1\n\n### END SOLUTION 1a\n", 3, "without a BEGIN", id="unopened"),
    pytest.param("### BEGIN SOLUTION 1a\n### END SOLUTION 1b\n", 2,
                 "does not match BEGIN SOLUTION 1a on line 1", id="other task"),
    pytest.param("def f():\n    ### BEGIN SOLUTION 1a\n    pass\n### END SOLUTION 1a\n", 4,
                 "does not match BEGIN SOLUTION 1a on line 2", id="other indent"),
    pytest.param("x = 1\n### BEGIN SOLUTION 4c\n### END SOLUTION 4c\n", 2,
                 "names task '4c'", id="unknown task"),
    pytest.param("### BEGIN SOLUTION\n### END SOLUTION\n", 1, "names task ''", id="no task"),
    pytest.param("### BEGIN SOLUTION 1a\n\n### BEGIN SOLUTION 1b\n### END SOLUTION 1b\n"
                 "### END SOLUTION 1a\n", 3, "inside the region opened on line 1", id="nested"),
])
def test_malformed_markers_name_the_place_and_the_problem(source, line, message):
    with pytest.raises(MalformedRegionError) as error:
        find_regions(source, where="cell 7")
    assert f"cell 7, line {line}" in str(error.value)
    assert message in str(error.value)


def test_malformed_region_error_is_a_value_error():
    assert issubclass(MalformedRegionError, ValueError)
